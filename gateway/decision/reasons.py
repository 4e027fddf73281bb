"""The stable reason codes of api.md, in its order."""

from __future__ import annotations

from dataclasses import dataclass

REASON_CODES: tuple[str, ...] = (
    "subject_unknown",
    "document_unknown",
    "action_not_permitted",
    "designation_not_in_force",
    "clearance_missing",
    "clearance_expired",
    "clearance_suspended",
    "clearance_revoked",
    "clearance_insufficient",
    "employer_not_certified",
    "contract_not_in_force",
    "not_on_roster",
)

TIER_NAMES = {"esi": "ESI", "sds": "SDS", "unclassified": "unclassified"}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
