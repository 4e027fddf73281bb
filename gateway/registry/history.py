"""The registry's past, held in memory beside a snapshot: the facts in force at any instant.

Changes take effect when they are made and never reach back. A status change (C7, B3) recorded at
instant T holds for decisions at instants from T on; a designation, contract or roster entry changed
at T is decided on its earlier version at instants before T. The comparison is against the recording
instant, not its day: a suspension made at 10:00 leaves a decision about 09:00 that day as it was.
Records carry their own dates: a record made today with `notified_on` 2025-06-01 counts from that
day, and a record's first status holds from its own date. An instant after the last change, and any
instant in the future, is decided on today's registry.

The facts at an instant depend only on which recorded changes precede it, so `cut(at)`, the number
of them, names the state: the memo of decisions is keyed by it, and a past instant is decided as fast
as the present.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.decision.facts import Facts

_CUTS_KEPT = 4_096
Key = tuple[str, str]  # (entity, entity id): ("assessment", "A-1"), ("roster_entry", "G-1/P-1")


@dataclass(frozen=True)
class History:
    """statuses: the status periods (recorded_at, status) of each record whose status changed, oldest
    first; the first holds from the record's own date. versions: (superseded_at, earlier fact) of each
    designation, contract or roster entry (None: the pair had no period then), or of a designation's
    provisions (C5a: every period, keyed by the designation), that changed, oldest first."""

    statuses: dict[Key, tuple[tuple[datetime, str], ...]] = field(default_factory=dict)
    versions: dict[Key, tuple[tuple[datetime, Any], ...]] = field(default_factory=dict)
    instants: tuple[datetime, ...] = ()  # every recorded change, sorted
    _cuts: dict[datetime, int] = field(default_factory=dict, repr=False, compare=False)  # memo of cut()

    @classmethod
    def of(
        cls,
        statuses: dict[Key, tuple[tuple[datetime, str], ...]],
        versions: dict[Key, tuple[tuple[datetime, Any], ...]],
    ) -> History:
        changed = [t for periods in statuses.values() for t, _ in periods[1:]]
        changed += [t for earlier in versions.values() for t, _ in earlier]
        return cls(statuses, versions, tuple(sorted(changed)))

    def replaced(
        self,
        statuses: dict[Key, tuple[tuple[datetime, str], ...]],
        versions: dict[Key, tuple[tuple[datetime, Any], ...]],
        keys: Iterable[Key],
    ) -> History:
        """This history with the entries of `keys` replaced by the fresh ones (or gone without one)."""
        all_statuses, all_versions = dict(self.statuses), dict(self.versions)
        for key in keys:
            for fresh, current in ((statuses, all_statuses), (versions, all_versions)):
                if key in fresh:
                    current[key] = fresh[key]
                else:
                    current.pop(key, None)
        return History.of(all_statuses, all_versions)

    def cut(self, at: datetime | None) -> int:
        """How many recorded changes precede `at` (all of them for the present, None)."""
        if at is None:
            return len(self.instants)
        cut = self._cuts.get(at)
        if cut is None:  # an instant asked about again (a batch, an investigation) skips the search
            if len(self._cuts) >= _CUTS_KEPT:
                self._cuts.clear()
            cut = self._cuts[at] = bisect_right(self.instants, at)
        return cut

    def status(self, key: Key, at: datetime) -> str | None:
        periods = self.statuses.get(key)
        if periods is None:
            return None
        status = periods[0][1]
        for recorded_at, later in periods[1:]:
            if recorded_at > at:
                break
            status = later
        return status

    def version(self, key: Key, at: datetime) -> tuple[bool, Any]:
        """(True, the version in force at `at`) when a later change replaced it, else (False, None)."""
        for superseded_at, earlier in self.versions.get(key, ()):
            if at < superseded_at:
                return True, earlier
        return False, None

    def as_of(self, facts: Facts, at: datetime) -> Facts:
        """Today's facts of one (person, document) as they stood at `at`."""
        changes: dict[str, Any] = {}
        if any(("assessment", a.id) in self.statuses for a in facts.assessments):
            changes["assessments"] = tuple(self.with_status("assessment", a, at) for a in facts.assessments)
        if any(("certification", c.id) in self.statuses for c in facts.certifications):
            changes["certifications"] = tuple(self.with_status("certification", c, at) for c in facts.certifications)
        if facts.designation is not None:
            found, earlier = self.version(("designation", facts.designation.id), at)
            if found:
                changes["designation"] = earlier
        if any(("contract", k.id) in self.versions for k in facts.contracts):
            contracts = []
            for contract in facts.contracts:
                found, earlier = self.version(("contract", contract.id), at)
                contracts.append(earlier if found else contract)
            changes["contracts"] = tuple(k for k in contracts if k is not None)
        if facts.designation is not None:
            found, earlier = self.version(("roster_entry", f"{facts.designation.id}/{facts.person_id}"), at)
            if found:
                changes["roster"] = earlier
            found, earlier = self.version(("provision", facts.designation.id), at)
            if found:
                changes["provisions"] = earlier
        return replace(facts, **changes) if changes else facts

    def with_status(self, entity: str, record: Any, at: datetime) -> Any:
        status = self.status((entity, record.id), at)
        return record if status is None or status == record.status else replace(record, status=status)
