"""The whole registry as it stood at a past instant, for questions about every pair at once.

A single decision asks `RegistrySnapshot.facts(person, document, at)`, which rewinds one pair's facts.
`policy diff --at` and other whole-registry reports need every pair at the same instant: this rewinds
every record once (a status to the period in force, a designation, contract, roster entry or a
designation's provisions to the version in force) and gives a snapshot that holds no history,
decided as if that instant were now.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.registry.history import History
from gateway.registry.snapshot import RegistrySnapshot


def registry_at(snapshot: RegistrySnapshot, at: datetime) -> RegistrySnapshot:
    """`snapshot` as it stood at `at` (itself when no recorded change comes after `at`)."""
    history = snapshot.history
    if history.cut(at) == len(history.instants):
        return snapshot

    def version(entity: str, entity_id: str, current: Any) -> Any:
        found, earlier = history.version((entity, entity_id), at)
        return earlier if found else current

    designations = {i: version("designation", i, d) for i, d in snapshot.designations.items()}
    contracts = {
        operator: tuple(k for k in (version("contract", c.id, c) for c in kept) if k is not None)
        for operator, kept in snapshot.contracts.items()
    }
    pairs: set[tuple[str, str]] = set(snapshot.roster)
    for entity, entity_id in history.versions:
        if entity == "roster_entry":
            designation, person = entity_id.split("/", 1)
            pairs.add((designation, person))
    roster = {pair: version("roster_entry", f"{pair[0]}/{pair[1]}", snapshot.roster.get(pair)) for pair in pairs}
    provided = set(snapshot.provisions) | {i for entity, i in history.versions if entity == "provision"}
    provisions = {i: version("provision", i, snapshot.provisions.get(i, ())) for i in provided}
    return replace(
        snapshot,
        designations={i: d for i, d in designations.items() if d is not None},
        assessments={
            p: tuple(history.with_status("assessment", a, at) for a in kept) for p, kept in snapshot.assessments.items()
        },
        certifications={
            o: tuple(history.with_status("certification", c, at) for c in kept)
            for o, kept in snapshot.certifications.items()
        },
        contracts=contracts,
        roster={pair: entry for pair, entry in roster.items() if entry is not None},
        provisions={i: periods for i, periods in provisions.items() if periods},
        history=History(),
    )
