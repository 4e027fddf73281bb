"""The registry's closed vocabularies, named once: the Acts (schemes), assessment results, the status
of an assessment or a certification, and the kinds of person. StrEnums, so that a member is the very
string stored and sent (`Status.REVOKED == "revoked"`) and code compares against a name, not a literal
that a typo would silently never match."""

from __future__ import annotations

from enum import StrEnum


class Scheme(StrEnum):
    """The Act a designation or an aptitude assessment is made under (also the tier it opens, C6)."""

    ESI = "esi"  # Important Economic Security Information Act
    SDS = "sds"  # Specially Designated Secrets Act


class Result(StrEnum):
    """An aptitude assessment's result (C2)."""

    FAVOURABLE = "favourable"
    UNFAVOURABLE = "unfavourable"


class Status(StrEnum):
    """An assessment's or a certification's status (C7, B3): a revocation is final."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Kind(StrEnum):
    """Government staff, or a contractor's employee (B1)."""

    GOVERNMENT = "government"
    CONTRACTOR = "contractor"
