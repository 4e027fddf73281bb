"""AuthZEN search: which persons may act on a document, which documents a person may act on, which
actions a person may take on a document; answered by deciding, so a search never disagrees with an
evaluation at the same instant.

Every result is decided by the same engine on the same facts as an evaluation (`snapshot.facts` at
the instant, then `decide`); what a search adds is the choice of whom to decide:

- persons: those with a roster entry for the document's designation, now or in the registry's past,
  when the policy denies every person off the roster (reach.py checks that on the policy files);
  otherwise every person;
- documents: one decision per designation stands for all its documents (their attributes are the
  same); only the person's roster designations when the policy is roster-bound, else all of them;
  unclassified documents share one decision;
- actions: the actions the policy names.

Pages are keyset pages over ids in code-point order, with a signed token that pins the instant of the
first page: every page of one search is decided on the registry as it stood at that instant (history.py),
so a change made while a client pages neither repeats nor skips a result. A token is bound to the request
that made it; a request changed mid-pagination is refused.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from fastapi.concurrency import run_in_threadpool

from gateway.audit.record import DecisionEntry
from gateway.auth import Caller
from gateway.decision.calendar import local_day
from gateway.decision.engine import decide
from gateway.decision.policy import ALL_ACTIONS, Policy
from gateway.decision.policy_context import RequestContext, declared_values, request_context
from gateway.decision.reach import (
    UNCLASSIFIED,
    UNKNOWN_DOCUMENT,
    roster_bound,
    someone_allowed,
    unknown_subject_allowed,
)
from gateway.errors import FieldError, InvalidInput
from gateway.ids import new_ulid
from gateway.metrics import SEARCHES
from gateway.registry.snapshot import RegistrySnapshot
from gateway.service import DecisionService

Kind = Literal["subject", "resource", "action"]
PERSON, DOCUMENT = "person", "document"
MAX_LIMIT = 1000  # results a page holds at most (and when the request names no limit)
TOKEN_LIFETIME = timedelta(hours=1)  # a search's pages are decided at its first page's instant


@dataclass(frozen=True)
class SearchQuery:
    """One search as asked: the entity searched for has a type and no id."""

    kind: Kind
    subject_type: str
    subject_id: str | None
    resource_type: str
    resource_id: str | None
    action: str | None  # None: an action search
    context: dict[str, Any] | None
    at: datetime | None  # context.time: a search at another instant (authz:simulate)
    limit: int = MAX_LIMIT

    def fingerprint(self) -> str:
        """What a page token is bound to: everything but the token."""
        body = [self.kind, self.subject_type, self.subject_id, self.resource_type, self.resource_id, self.action,
                self.context, self.limit]  # fmt: skip
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(frozen=True)
class Page:
    results: list[str]  # ids (names, for an action search), in code-point order
    next_token: str  # "" on the last page
    decision_id: str  # of the search's record in the decision log
    policy_version: str
    evaluated_at: datetime
    simulation: bool


@dataclass
class _Index:
    """Look-ups a search needs and a decision does not, built once per snapshot (on first use)."""

    snapshot: RegistrySnapshot
    _persons: list[str] | None = None
    _by_designation: dict[str, list[str]] | None = None  # designation -> persons with an entry, ever
    _by_person: dict[str, set[str]] | None = None  # person -> designations with an entry, ever
    _documents: dict[str | None, list[str]] | None = None  # designation (None: unclassified) -> documents

    @property
    def persons(self) -> list[str]:
        if self._persons is None:
            self._persons = sorted(self.snapshot.persons)
        return self._persons

    def _rosters(self) -> None:
        by_designation: dict[str, set[str]] = defaultdict(set)
        by_person: dict[str, set[str]] = defaultdict(set)
        pairs: Iterable[tuple[str, str]] = self.snapshot.roster
        history = [
            tuple(entity_id.split("/", 1))
            for entity, entity_id in self.snapshot.history.versions
            if entity == "roster_entry" and "/" in entity_id
        ]
        for designation, person in [*pairs, *history]:
            by_designation[designation].add(person)
            by_person[person].add(designation)
        self._by_designation = {d: sorted(p) for d, p in by_designation.items()}
        self._by_person = dict(by_person)

    def roster_persons(self, designation: str) -> list[str]:
        """Everyone with an entry on the designation's roster, now or at any earlier instant."""
        if self._by_designation is None:
            self._rosters()
        assert self._by_designation is not None
        return self._by_designation.get(designation, [])

    def roster_designations(self, person: str) -> set[str]:
        if self._by_person is None:
            self._rosters()
        assert self._by_person is not None
        return self._by_person.get(person, set())

    @property
    def documents(self) -> dict[str | None, list[str]]:
        if self._documents is None:
            grouped: dict[str | None, list[str]] = defaultdict(list)
            for document in self.snapshot.documents.values():
                grouped[document.designation_id].append(document.id)
            self._documents = {d: sorted(ids) for d, ids in grouped.items()}
        return self._documents


class Finder:
    """Whom to decide, and the deciding: the part of a search that needs no log and no token (access
    reviews use it too). Keeps the look-ups of the last snapshot it saw."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self._index: _Index | None = None

    def index(self, snapshot: RegistrySnapshot) -> _Index:
        index = self._index
        if index is None or index.snapshot is not snapshot:
            index = self._index = _Index(snapshot)
        return index

    def allowed(
        self,
        snapshot: RegistrySnapshot,
        policy: Policy,
        query: SearchQuery,
        instant: datetime | None,
        at: datetime,
        after: str | None = None,
    ) -> Iterator[str]:
        """Every result after `after`, in order, each decided at `at` (`instant` None: the present)."""
        day = local_day(at, self.zone)
        ctx = request_context(policy.context, "evaluation", query.context)

        def allows(person: str, document: str, action: str) -> bool:
            return decide(snapshot.facts(person, document, instant), action, day, policy, ctx).allowed

        if query.kind == "action":
            person, document = _ids(query)
            names = sorted(a for a in policy.actions if a != ALL_ACTIONS)
            yield from (a for a in names[_start(names, after) :] if allows(person, document, a))
            return
        assert query.action is not None
        if query.kind == "subject":
            if query.subject_type != PERSON:
                return  # no entity of another type is known to the registry
            _, document = _ids(query)
            persons = self.candidate_persons(snapshot, policy, document, query.action, ctx)
            yield from (p for p in persons[_start(persons, after) :] if allows(p, document, query.action))
            return
        if query.resource_type != DOCUMENT:
            return
        person, _ = _ids(query)
        yield from self._allowed_documents(snapshot, policy, person, query.action, ctx, allows, after)

    def candidate_persons(
        self, snapshot: RegistrySnapshot, policy: Policy, document: str, action: str, ctx: RequestContext
    ) -> list[str]:
        """The persons who may be allowed `action` on `document`, in order; every other one is denied."""
        known = snapshot.documents.get(document)
        if known is None or known.designation_id is None:
            obj = UNKNOWN_DOCUMENT if known is None else UNCLASSIFIED
            return self.index(snapshot).persons if someone_allowed(policy, obj, action, ctx) else []
        return self.designation_candidates(snapshot, policy, known.designation_id, action, ctx)

    def designation_candidates(
        self, snapshot: RegistrySnapshot, policy: Policy, designation: str, action: str, ctx: RequestContext
    ) -> list[str]:
        """The persons who may be allowed `action` on a document of `designation`, in order."""
        index = self.index(snapshot)
        return index.roster_persons(designation) if roster_bound(policy, action, ctx) else index.persons

    def _allowed_documents(
        self,
        snapshot: RegistrySnapshot,
        policy: Policy,
        person: str,
        action: str,
        ctx: RequestContext,
        allows: Any,
        after: str | None,
    ) -> Iterator[str]:
        """The documents `person` may take `action` on: one decision per designation (and one for the
        unclassified documents) stands for every document it holds."""
        index = self.index(snapshot)
        if person not in snapshot.persons and not unknown_subject_allowed(policy, action, ctx):
            return
        documents = index.documents
        groups: Iterable[str | None]
        if person in snapshot.persons and roster_bound(policy, action, ctx):
            groups = [None, *index.roster_designations(person)]
        else:
            groups = documents
        found: list[str] = []
        for group in groups:
            members = documents.get(group)
            if members and allows(person, members[0], action):
                found.extend(members)
        found.sort()
        yield from found[_start(found, after) :]


class SearchService:
    def __init__(self, decisions: DecisionService, token_key: bytes):
        self.decisions = decisions
        self.finder = Finder(decisions.zone)
        self._key = token_key

    async def search(
        self, query: SearchQuery, token: str | None, caller: Caller, request_id: str | None = None
    ) -> Page:
        """One page of a search, logged (channel `search`) before it is answered."""
        started = time.perf_counter_ns()
        now = self.decisions.clock()
        after, pinned = self._read_token(token, query, now) if token else (None, None)
        at = pinned or query.at or now
        snapshot: Any = await self.decisions.snapshot()
        policy = self.decisions.policies.current
        # The first page of a search about now is decided on today's registry; its later pages at that
        # instant, on the registry as it stood then (the same, unless something changed since).
        instant = query.at if pinned is None else pinned
        results, more = await run_in_threadpool(self._page, snapshot, policy, query, instant, at, after)
        next_token = self._token(query, at, results[-1] if results else after) if more else ""
        decision_id = new_ulid()
        ctx = request_context(policy.context, "evaluation", query.context)
        facts: dict[str, Any] = {
            "search": query.kind,
            "count": len(results),
            "results": results,
            "registry_version": snapshot.version,
        }
        if after is not None:
            facts["after"] = after
        for role, kind, usual in (("subject", query.subject_type, PERSON), ("resource", query.resource_type, DOCUMENT)):
            if kind != usual:  # an entity of another type finds nothing; the log says which was asked for
                facts[f"{role}_type"] = kind
        if declared := declared_values(ctx):
            facts["context"] = declared
        entry = DecisionEntry.of(
            decision_id=decision_id,
            logged_at=now,
            evaluated_at=at,
            caller_sub=caller.sub,
            caller_client=caller.client,
            request_id=request_id,
            channel="search",
            person_id=query.subject_id or "",
            document_id=query.resource_id or "",
            action=query.action or "",
            allowed=True,
            reasons=[],
            policy_version=policy.version,
            facts=facts,
            inputs=None,
            simulation=query.at is not None,
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )
        await self.decisions.record([entry])
        SEARCHES.labels(query.kind).inc()
        return Page(results, next_token, decision_id, policy.version, at, query.at is not None)

    def _page(
        self,
        snapshot: RegistrySnapshot,
        policy: Policy,
        query: SearchQuery,
        instant: datetime | None,
        at: datetime,
        after: str | None,
    ) -> tuple[list[str], bool]:
        """(up to `limit` results after `after`, whether there are more)."""
        found: list[str] = []
        for result in self.finder.allowed(snapshot, policy, query, instant, at, after):
            if len(found) == query.limit:
                return found, True
            found.append(result)
        return found, False

    # --- page tokens ------------------------------------------------------------------------------

    def _token(self, query: SearchQuery, at: datetime, last: str | None) -> str:
        body = orjson.dumps({"q": query.fingerprint(), "at": at.astimezone(UTC).isoformat(), "after": last})
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return f"{_b64(body)}.{_b64(mac)}"

    def _read_token(self, token: str, query: SearchQuery, now: datetime) -> tuple[str | None, datetime]:
        """(the last result of the previous page, the instant the search is decided at)."""
        where = ("page", "token")
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            body, mac = b"", b""
        if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:16]):
            raise InvalidInput(
                "page.token is not a token this gateway gave",
                [FieldError(where, "send the next_token of the previous page unchanged, or no token to start")],
            )
        fields = orjson.loads(body)
        if fields["q"] != query.fingerprint():
            raise InvalidInput(
                "the request changed mid-pagination",
                [
                    FieldError(
                        where,
                        "send the same subject, resource, action, context and page.limit as the "
                        "first page, or start a new search without page.token",
                    )
                ],  # fmt: skip
            )
        at = datetime.fromisoformat(fields["at"])
        if query.at is None and now - at > TOKEN_LIFETIME:
            raise InvalidInput(
                "this search's pages have expired",
                [
                    FieldError(
                        where,
                        "a search's pages are given for an hour after its first page; start again without page.token",
                    )
                ],  # fmt: skip
            )
        return fields["after"], at


def _ids(query: SearchQuery) -> tuple[str, str]:
    """The person and document ids as an evaluation asks about them: an entity of a type the gateway
    does not decide for is asked under its type ("user/alice"), which no registry id can be."""
    person = query.subject_id or ""
    if query.subject_type != PERSON:
        person = f"{query.subject_type}/{person}"
    document = query.resource_id or ""
    if query.resource_type != DOCUMENT:
        document = f"{query.resource_type}/{document}"
    return person, document


def _start(ordered: list[str], after: str | None) -> int:
    return 0 if after is None else bisect.bisect_right(ordered, after)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url") from exc
