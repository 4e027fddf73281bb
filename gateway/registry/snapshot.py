"""The policy information point: the registry held in memory as an immutable, indexed snapshot.

A decision then costs dictionary look-ups, not queries. Every change to the registry writes a
change event in the same transaction, so the change chain's head is the registry's version. The
resolver checks its snapshot against that version (one primary-key read) and rebuilds when it moved.
How often it checks is invalidation.py's business: on every decision unless a LISTEN connection
vouches for the cache, and in any case once `max_age` seconds have passed.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from gateway.db import READ_ONLY
from gateway.decision.engine import Decision, decide
from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    Facts,
    PersonFact,
    ProvisionFact,
    RosterFact,
    facts_record,
)
from gateway.decision.policy import NO_CONTEXT, Policy
from gateway.decision.policy_context import RequestContext
from gateway.registry.history import History, Key
from models import (
    Assessment,
    Certification,
    ChainHead,
    ChangeEvent,
    Contract,
    ContractDesignation,
    Designation,
    Document,
    Person,
    Provision,
    RecordVersion,
    RosterEntry,
    StatusPeriod,
)
from models.bundle import Bundle
from models.identifiers import MAX_ID_LENGTH

log = structlog.get_logger("gateway.registry")
_DECISIONS_KEPT = 65_536  # per snapshot: enough for every (person, document) pair asked about in a day


# (person, document, action, day, policy version, request context, changes before the instant asked about)
_Memo = dict[tuple[str, str, str, date, str, RequestContext, int], tuple[Facts, Decision, dict[str, Any]]]


@dataclass(frozen=True)
class RegistrySnapshot:
    version: int
    persons: dict[str, PersonFact] = field(default_factory=dict)
    documents: dict[str, DocumentFact] = field(default_factory=dict)
    designations: dict[str, DesignationFact] = field(default_factory=dict)
    assessments: dict[str, tuple[AssessmentFact, ...]] = field(default_factory=dict)  # by person
    certifications: dict[str, tuple[CertificationFact, ...]] = field(default_factory=dict)  # by operator
    contracts: dict[str, tuple[ContractFact, ...]] = field(default_factory=dict)  # by operator
    roster: dict[tuple[str, str], RosterFact] = field(default_factory=dict)  # (designation, person)
    provisions: dict[str, tuple[ProvisionFact, ...]] = field(default_factory=dict)  # C5a, by designation
    history: History = field(default_factory=History)  # the facts of earlier instants (history.py)
    _decided: _Memo = field(default_factory=dict, repr=False, compare=False)

    def decide(
        self,
        person_id: str,
        document_id: str,
        action: str,
        day: date,
        policy: Policy,
        ctx: RequestContext = NO_CONTEXT,
        *,
        at: datetime | None = None,
        memo_only: bool = False,
    ) -> tuple[Facts, Decision, dict[str, Any]]:
        """(facts, decision, facts as logged for replay), memoized; `at`: the instant asked about
        (context.time), on whose facts the decision is made; None for the present.

        A decision depends on nothing but the facts of the pair (fixed for this snapshot and the
        changes recorded before `at`), the action, the calendar day, the request context and the policy
        (its version is a hash of its files), so the same question on the same day in the same context is
        answered from memory until the registry or the policy changes. The memo is bounded in entries, and
        each entry in bytes: only ids within the id rules' length and a small request context are kept
        (the HTTP layer refuses longer ids before deciding; this holds whoever calls).
        """
        cut = self.history.cut(at)
        key = (person_id, document_id, action, day, policy.version, ctx, cut)
        known = self._decided.get(key)
        if known is None:
            facts = self.facts(person_id, document_id, at if cut < len(self.history.instants) else None)
            known = (facts, decide(facts, action, day, policy, ctx, memo_only=memo_only), facts_record(facts))
            if max(len(person_id), len(document_id), len(action)) <= MAX_ID_LENGTH and len(repr(ctx)) <= 1024:
                if len(self._decided) >= _DECISIONS_KEPT:
                    self._decided.clear()
                self._decided[key] = known
        return known

    def facts(self, person_id: str, document_id: str, at: datetime | None = None) -> Facts:
        """The facts of (person, document) in force at instant `at` (None: now, today's registry)."""
        facts = self._facts(person_id, document_id)
        if at is None or self.history.cut(at) == len(self.history.instants):
            return facts
        return self.history.as_of(facts, at)

    def _facts(self, person_id: str, document_id: str) -> Facts:
        person = self.persons.get(person_id)
        document = self.documents.get(document_id)
        designation = None
        if document is not None and document.designation_id is not None:
            designation = self.designations.get(document.designation_id)
        operator = person.operator_id if person is not None else None
        return Facts(
            person_id=person_id,
            document_id=document_id,
            person=person,
            document=document,
            designation=designation,
            assessments=self.assessments.get(person_id, ()),
            certifications=self.certifications.get(operator, ()) if operator else (),
            contracts=self.contracts.get(operator, ()) if operator else (),
            roster=self.roster.get((designation.id, person_id)) if designation is not None else None,
            provisions=self.provisions.get(designation.id, ()) if designation is not None else (),
        )


_VERSION_SQL = "SELECT chain_index FROM chain_heads WHERE chain = 'changes'"


def registry_version(conn: Connection) -> int:
    """The number of change events so far: the change chain's head, one primary-key read (no scan)."""
    version = conn.execute(select(ChainHead.chain_index).where(ChainHead.chain == "changes")).scalar()
    return int(version or 0)


def load_snapshot(conn: Connection) -> RegistrySnapshot:
    """Read the whole registry in one transaction (one consistent view) into indexed records."""
    rows = {name: conn.execute(select(table.__table__)).all() for name, table in _TABLES.items()}  # type: ignore[attr-defined]
    snapshot = build_snapshot(registry_version(conn), **rows)
    return replace(snapshot, history=load_history(conn))


_PERIODS = StatusPeriod.__table__  # type: ignore[attr-defined]
_VERSIONS = RecordVersion.__table__  # type: ignore[attr-defined]


def load_history(conn: Connection, keys: Iterable[Key] | None = None) -> History:
    """The status periods of records whose status changed and the earlier versions of records, all
    or those of `keys` only."""
    periods, versions = select(_PERIODS).order_by(_PERIODS.c.seq), select(_VERSIONS).order_by(_VERSIONS.c.seq)
    if keys is None:
        changed = select(_PERIODS.c.entity, _PERIODS.c.entity_id).group_by(_PERIODS.c.entity, _PERIODS.c.entity_id)
        changed = changed.having(func.count() > 1)
        period_rows = conn.execute(periods.where(tuple_(_PERIODS.c.entity, _PERIODS.c.entity_id).in_(changed))).all()
        version_rows = conn.execute(versions).all()
    else:
        period_rows, version_rows = [], []
        by_entity: dict[str, list[str]] = defaultdict(list)
        for entity, entity_id in keys:
            by_entity[entity].append(entity_id)
        for entity, ids in by_entity.items():
            for start in range(0, len(ids), 500):
                chunk = sorted(ids)[start : start + 500]
                period_rows += conn.execute(
                    periods.where(_PERIODS.c.entity == entity, _PERIODS.c.entity_id.in_(chunk))
                ).all()
                version_rows += conn.execute(
                    versions.where(_VERSIONS.c.entity == entity, _VERSIONS.c.entity_id.in_(chunk))
                ).all()
        period_rows.sort(key=lambda r: r.seq)
        version_rows.sort(key=lambda r: r.seq)
    statuses: dict[Key, list[tuple[datetime, str]]] = defaultdict(list)
    for r in period_rows:
        statuses[(r.entity, r.entity_id)].append((r.recorded_at, r.status))
    earlier: dict[Key, list[tuple[datetime, Any]]] = defaultdict(list)
    for r in version_rows:
        earlier[(r.entity, r.entity_id)].append((r.superseded_at, _version_fact(r.entity, r.entity_id, r.record)))
    return History.of(
        {key: tuple(p) for key, p in statuses.items() if len(p) > 1},
        {key: tuple(sorted(v, key=lambda pair: pair[0])) for key, v in earlier.items()},
    )


def _version_fact(entity: str, entity_id: str, record: dict[str, Any]) -> Any:
    """The fact a record_versions row describes (dates are ISO strings in its JSON)."""
    fields = {k: date.fromisoformat(v) if k in _DATES and v is not None else v for k, v in record.items()}
    if entity == "designation":
        return _designation(SimpleNamespace(**fields))
    if entity == "contract":
        return _contract(SimpleNamespace(**fields), fields.get("designation_ids", ()))
    if entity == "provision":  # every provision period of one designation, as they were
        return _provisions_of(entity_id, fields["periods"])
    designation_id, person_id = entity_id.split("/", 1)
    periods = [
        SimpleNamespace(
            designation_id=designation_id,
            person_id=person_id,
            valid_from=date.fromisoformat(p["valid_from"]),
            valid_until=date.fromisoformat(p["valid_until"]) if p["valid_until"] else None,
        )
        for p in fields["periods"]
    ]
    return _roster(periods) if periods else None


_DATES = {"designated_on", "expires_on", "cancelled_on", "starts_on", "ends_on"}


_TABLES = {
    "persons": Person,
    "designations": Designation,
    "documents": Document,
    "assessments": Assessment,
    "certifications": Certification,
    "contract_links": ContractDesignation,
    "contracts": Contract,
    "roster": RosterEntry,
    "provisions": Provision,
}


def snapshot_from_bundle(bundle: Bundle) -> RegistrySnapshot:
    """A snapshot straight from a registry bundle, with no database (policy test files use it)."""
    links = [SimpleNamespace(contract_id=k.id, designation_id=d) for k in bundle.contracts for d in k.designation_ids]
    return build_snapshot(
        0,
        persons=bundle.persons,
        designations=bundle.designations,
        documents=[
            SimpleNamespace(id=d.id, designation_id=d.designation_id, media_type=d.media_type, size=0, sha256="")
            for d in bundle.documents
        ],
        assessments=bundle.assessments,
        certifications=bundle.certifications,
        contract_links=links,
        contracts=bundle.contracts,
        roster=bundle.rosters,
        provisions=bundle.provisions,
    )


def build_snapshot(
    version: int,
    *,
    persons: Iterable[Any],
    designations: Iterable[Any],
    documents: Iterable[Any],
    assessments: Iterable[Any],
    certifications: Iterable[Any],
    contract_links: Iterable[Any],
    contracts: Iterable[Any],
    roster: Iterable[Any],
    provisions: Iterable[Any] = (),
) -> RegistrySnapshot:
    """Index registry records (rows or bundle entries: anything with the table's attribute names)."""
    covered: dict[str, set[str]] = defaultdict(set)
    for r in contract_links:
        covered[r.contract_id].add(r.designation_id)
    return RegistrySnapshot(
        version=version,
        persons={r.id: _person(r) for r in persons},
        documents={r.id: _document(r) for r in documents},
        designations={r.id: _designation(r) for r in designations},
        assessments=_grouped(assessments, "person_id", _assessment),
        certifications=_grouped(certifications, "operator_id", _certification),
        contracts=_grouped(contracts, "operator_id", lambda r: _contract(r, covered[r.id])),
        roster=_rosters(roster),
        provisions=_grouped(sorted(provisions, key=_period_order), "designation_id", _provision),
    )


def _rosters(rows: Iterable[Any]) -> dict[tuple[str, str], RosterFact]:
    periods: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        periods[(r.designation_id, r.person_id)].append(r)
    return {key: _roster(p) for key, p in periods.items()}


PATCH_LIMIT = 5_000  # change events applied one by one; beyond this (a big import) the snapshot is rebuilt


def patch_snapshot(conn: Connection, snapshot: RegistrySnapshot) -> RegistrySnapshot | None:
    """The snapshot moved forward by the change events since its version, re-reading only the records
    they name; None when there are too many of them, or one this cannot place (then rebuild).

    A rebuild reads every table (seconds at 100,000 persons); a suspension or a roster removal should
    reach every replica in milliseconds whatever the registry's size. Run inside one repeatable-read
    transaction, so that the events and the records read agree with the version returned.
    """
    version = registry_version(conn)
    if snapshot.version < 0 or version < snapshot.version:
        return None
    events = conn.execute(
        select(_EVENTS.c.entity, _EVENTS.c.entity_id, _EVENTS.c.before, _EVENTS.c.after)
        .where(_EVENTS.c.chain_index > snapshot.version, _EVENTS.c.chain_index <= version)
        .limit(PATCH_LIMIT + 1)
    ).all()
    if len(events) > PATCH_LIMIT:
        return None
    touched: dict[str, set[Any]] = defaultdict(set)
    grouped_ids: dict[str, set[str]] = defaultdict(set)  # assessment, certification, contract ids
    for entity, entity_id, before, after in events:
        sides = [side for side in (before, after) if side]
        if entity in ("person", "designation", "document"):
            touched[entity].add(entity_id)
        elif entity in _GROUPED:
            # An import's update event holds only the columns that changed: the owner is read below
            # from the record itself, and taken from the event too in case it moved or was deleted.
            grouped_ids[entity].add(entity_id)
            touched[entity].update(side[_GROUPED[entity][1]] for side in sides if _GROUPED[entity][1] in side)
        elif entity == "provision":  # C5a: entity id "designation/organ"
            designation_id = next((side["designation_id"] for side in sides if "designation_id" in side), None)
            touched["provision"].add(designation_id or entity_id.split("/", 1)[0])
        elif entity == "roster_entry":
            key = _roster_key(entity_id, sides)
            if key is None:
                return None
            touched["roster_entry"].add(key)
        elif entity not in ("organ", "operator", "policy"):  # those three are not in a snapshot
            return None
    for entity, ids in grouped_ids.items():
        model, owner = _GROUPED[entity]
        table = model.__table__
        for start in range(0, len(ids), 500):
            chunk = sorted(ids)[start : start + 500]
            touched[entity].update(conn.execute(select(table.c[owner]).where(table.c.id.in_(chunk))).scalars())
    changes: dict[str, Any] = {}
    if touched["person"]:
        rows = _rows(conn, Person, Person.id, touched["person"])  # type: ignore[arg-type]
        changes["persons"] = _replaced(snapshot.persons, touched["person"], {r.id: _person(r) for r in rows})
    if touched["designation"]:
        rows = _rows(conn, Designation, Designation.id, touched["designation"])  # type: ignore[arg-type]
        fresh = {r.id: _designation(r) for r in rows}
        changes["designations"] = _replaced(snapshot.designations, touched["designation"], fresh)
    if touched["document"]:
        rows = _rows(conn, Document, Document.id, touched["document"])  # type: ignore[arg-type]
        changes["documents"] = _replaced(snapshot.documents, touched["document"], {r.id: _document(r) for r in rows})
    if touched["assessment"]:
        rows = _rows(conn, Assessment, Assessment.person_id, touched["assessment"])  # type: ignore[arg-type]
        changes["assessments"] = _replaced(
            snapshot.assessments, touched["assessment"], _grouped(rows, "person_id", _assessment)
        )
    if touched["certification"]:
        rows = _rows(conn, Certification, Certification.operator_id, touched["certification"])  # type: ignore[arg-type]
        fresh = _grouped(rows, "operator_id", _certification)
        changes["certifications"] = _replaced(snapshot.certifications, touched["certification"], fresh)
    if touched["contract"]:
        rows = _rows(conn, Contract, Contract.operator_id, touched["contract"])  # type: ignore[arg-type]
        links = _rows(conn, ContractDesignation, ContractDesignation.contract_id, {r.id for r in rows})  # type: ignore[arg-type]
        covered: dict[str, set[str]] = defaultdict(set)
        for link in links:
            covered[link.contract_id].add(link.designation_id)
        fresh = _grouped(rows, "operator_id", lambda r: _contract(r, covered[r.id]))
        changes["contracts"] = _replaced(snapshot.contracts, touched["contract"], fresh)
    if touched["roster_entry"]:
        keys = touched["roster_entry"]
        designations = {d for d, _ in keys}
        rows = _rows(conn, RosterEntry, RosterEntry.designation_id, designations)  # type: ignore[arg-type]
        fresh = _rosters(r for r in rows if (r.designation_id, r.person_id) in keys)
        changes["roster"] = _replaced(snapshot.roster, keys, fresh)
    if touched["provision"]:
        rows = _rows(conn, Provision, Provision.designation_id, touched["provision"])  # type: ignore[arg-type]
        fresh = _grouped(sorted(rows, key=_period_order), "designation_id", _provision)
        changes["provisions"] = _replaced(snapshot.provisions, touched["provision"], fresh)
    historic: set[Key] = {(entity, i) for entity, ids in grouped_ids.items() for i in ids}
    historic |= {("provision", i) for i in touched["provision"]}
    historic |= {("designation", i) for i in touched["designation"]}
    historic |= {("roster_entry", f"{d}/{p}") for d, p in touched["roster_entry"]}
    if historic:
        fresh_history = load_history(conn, historic)
        changes["history"] = snapshot.history.replaced(fresh_history.statuses, fresh_history.versions, historic)
    return replace(snapshot, version=version, _decided={}, **changes)


_EVENTS = ChangeEvent.__table__  # type: ignore[attr-defined]
_GROUPED: dict[str, tuple[Any, str]] = {  # records the snapshot keeps by their owner: (table, owner column)
    "assessment": (Assessment, "person_id"),
    "certification": (Certification, "operator_id"),
    "contract": (Contract, "operator_id"),
}


def _roster_key(entity_id: str, sides: list[dict[str, Any]]) -> tuple[str, str] | None:
    for side in sides:
        if "designation_id" in side and "person_id" in side:
            return side["designation_id"], side["person_id"]
    parts = entity_id.split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else None  # ids holding "/" themselves: read whole


def _rows(conn: Connection, model: Any, column: Any, keys: Iterable[Any]) -> list[Any]:
    keys, out = sorted(keys), []
    for start in range(0, len(keys), 500):  # bounded IN lists
        out += conn.execute(select(model.__table__).where(column.in_(keys[start : start + 500]))).all()
    return out


def _replaced(current: dict[Any, Any], keys: Iterable[Any], fresh: dict[Any, Any]) -> dict[Any, Any]:
    """A copy of `current` where every key of `keys` has its fresh value, or is gone when it has none."""
    out = dict(current)
    for key in keys:
        if key in fresh:
            out[key] = fresh[key]
        else:
            out.pop(key, None)
    return out


def _grouped(rows: Iterable[Any], by: str, fact: Any) -> dict[str, tuple[Any, ...]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        groups[getattr(r, by)].append(fact(r))
    return {k: tuple(v) for k, v in groups.items()}


def _person(r: Any) -> PersonFact:
    return PersonFact(r.id, r.kind, r.organ_id, r.operator_id, r.department, r.office)


def _document(r: Any) -> DocumentFact:
    return DocumentFact(r.id, r.designation_id, r.media_type, r.size, r.sha256)


def _designation(r: Any) -> DesignationFact:
    return DesignationFact(r.id, r.organ_id, r.scheme, r.designated_on, r.expires_on, r.cancelled_on)


def _assessment(r: Any) -> AssessmentFact:
    return AssessmentFact(r.id, r.organ_id, r.scheme, r.result, r.notified_on, r.status)


def _certification(r: Any) -> CertificationFact:
    return CertificationFact(r.id, r.organ_id, r.certified_on, r.status)


def _contract(r: Any, covered: Iterable[str]) -> ContractFact:
    return ContractFact(r.id, r.organ_id, r.starts_on, r.ends_on, frozenset(covered), frozenset(r.departments))


def _period_order(r: Any) -> tuple[str, date]:
    return r.organ_id, r.valid_from


def _provision(r: Any) -> ProvisionFact:
    return ProvisionFact(r.designation_id, r.organ_id, r.valid_from, r.valid_until)


def _provisions_of(designation_id: str, periods: list[dict[str, Any]]) -> tuple[ProvisionFact, ...]:
    """C5a: a designation's provision periods from their JSON form (a record version)."""
    return tuple(
        ProvisionFact(
            designation_id,
            p["organ_id"],
            date.fromisoformat(p["valid_from"]),
            date.fromisoformat(p["valid_until"]) if p["valid_until"] else None,
        )
        for p in periods
    )


def _roster(periods: list[Any]) -> RosterFact:
    """N1: the periods of one (designation, person): the latest, and the earlier ones."""
    ordered = sorted(periods, key=lambda r: r.valid_from)
    last = ordered[-1]
    earlier = tuple((r.valid_from, r.valid_until) for r in ordered[:-1])
    return RosterFact(last.designation_id, last.person_id, last.valid_from, last.valid_until, earlier)


class FactResolver:
    """Hands out the current snapshot; rebuilds it (once, under a lock) when the registry moved.

    `listening` says whether change notifications reach this process (set by the ChangeListener).
    While they do, a snapshot checked less than `max_age` seconds ago, with no change announced
    since, is used without asking the database; otherwise every call reads the version first.
    """

    def __init__(self, engine: Engine, max_age: float = 1.0) -> None:
        self._engine = engine
        self.max_age = max_age
        self._snapshot = RegistrySnapshot(version=-1)
        self._lock = threading.Lock()
        self._generations = itertools.count(1)
        self._generation = 0  # moves on every invalidation
        self._checked: tuple[int, float] = (-1, 0.0)  # (generation, monotonic time) of the last check
        self.listening = False
        self.hits = self.checks = self.rebuilds = self.patches = 0
        self.last_rebuild_seconds = 0.0
        self._local = engine.dialect.name == "sqlite"  # a version read is a local file read
        self._reader: Any = None  # SQLite: one connection kept for version reads
        self._reader_lock = threading.Lock()

    @property
    def version(self) -> int:
        """The registry version of the snapshot held now (what /metrics shows)."""
        return self._snapshot.version

    def fresh(self) -> RegistrySnapshot | None:
        """The current snapshot if that is known without waiting on a server: a notification vouches
        for it, or (SQLite) the version read from the local file matches. None: call `current()` from
        a thread. Never blocks on the network, so the event loop may call it."""
        snapshot = self._vouched()
        if snapshot is not None or not self._local:
            return snapshot
        generation = self._generation
        try:
            version = self._read_version()
        except Exception:
            return None  # let current() meet the error where it is handled
        self.checks += 1
        snapshot = self._snapshot
        if version != snapshot.version:
            return None
        self._checked = (generation, time.monotonic())
        return snapshot

    def current(self) -> RegistrySnapshot:
        """The snapshot of the registry's latest committed version, as of the last check."""
        snapshot = self._vouched()
        if snapshot is not None:
            return snapshot
        generation = self._generation  # read before the version: a change announced later re-checks
        version = self._read_version()
        self.checks += 1
        snapshot = self._snapshot
        if snapshot.version != version:
            with self._lock:
                if self._snapshot.version != version:
                    started = time.perf_counter()
                    self._snapshot = self._rebuild()
                    self.rebuilds += 1
                    self.last_rebuild_seconds = time.perf_counter() - started
                snapshot = self._snapshot
        self._checked = (generation, time.monotonic())
        return snapshot

    def _vouched(self) -> RegistrySnapshot | None:
        """The snapshot, if a listening connection vouches for it: checked recently, nothing announced since."""
        generation, checked_at = self._checked
        if self.listening and generation == self._generation and time.monotonic() - checked_at < self.max_age:
            self.hits += 1
            return self._snapshot
        return None

    def touch(self) -> None:
        """Something may have changed: the next call checks the version."""
        self._generation = next(self._generations)

    def set_listening(self, listening: bool) -> None:
        self.touch()  # whatever was announced while nobody listened is checked for
        self.listening = listening

    def _read_version(self) -> int:
        """On the hot path, so on a raw DBAPI connection: a SQLAlchemy Core round trip (checkout,
        BEGIN, compiled SELECT, COMMIT) costs about 0.7 ms here, the raw read a small fraction of it.
        SQLite keeps one connection for it (a pool checkout costs more than the read)."""
        if self._local:
            return self._read_local_version()
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(_VERSION_SQL)
            row = cursor.fetchone()
            cursor.close()
            raw.rollback()  # end PostgreSQL's implicit read transaction; a no-op for SQLite autocommit
            return int(row[0]) if row else 0
        finally:
            raw.close()  # back to the pool

    def _read_local_version(self) -> int:
        with self._reader_lock:
            try:
                if self._reader is None:
                    self._reader = self._engine.raw_connection()
                cursor = self._reader.cursor()
                cursor.execute(_VERSION_SQL)
                row = cursor.fetchone()
                cursor.close()
                return int(row[0]) if row else 0
            except Exception:
                self._close_reader()
                raise

    def _close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):  # it is being thrown away because it failed already
                self._reader.invalidate()  # do not return a connection in an unknown state to the pool
            self._reader = None

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _rebuild(self) -> RegistrySnapshot:
        """Patched forward from the current snapshot when a few changes moved it, else read whole."""
        options = READ_ONLY if self._engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            try:
                patched = patch_snapshot(conn, self._snapshot)
            except SQLAlchemyError:
                raise
            except Exception as exc:  # a patch that cannot place an event must not cost a decision
                log.warning("registry.patch_failed", error=type(exc).__name__)
                patched = None
            if patched is not None:
                self.patches += 1
                return patched
            snapshot = load_snapshot(conn)
        _out_of_the_collectors_sight()
        return snapshot


def _out_of_the_collectors_sight() -> None:
    """A whole snapshot is millions of long-lived objects. Left to the cyclic collector, each full
    collection walked them all, a pause of about 130 ms on the event loop (the open-loop p99). Once
    read, they are moved to the collector's permanent generation: freed by reference counting when the
    next snapshot replaces them (a snapshot holds no reference cycles), never scanned."""
    gc.collect()
    gc.freeze()
