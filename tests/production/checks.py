"""What the decision log holds, read straight from the database, held against what clients got."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.production.load import PROBLEM_JSON, Answer


@dataclass(frozen=True, slots=True)
class Row:
    decision_id: str
    allowed: bool
    channel: str
    person_id: str
    document_id: str
    request_id: str | None


def decision_rows(database_url: str) -> dict[str, Row]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT decision_id, allowed, channel, person_id, document_id, request_id FROM decisions")
            ).all()
    finally:
        engine.dispose()
    return {r.decision_id: Row(r.decision_id, bool(r.allowed), *r[2:]) for r in rows}  # SQLite: 0/1


def unlogged(answers: Iterable[Answer], rows: dict[str, Row]) -> list[str]:
    """Every decision a client was given, allow or deny, must be in the log as given (R1); a release
    must be logged as a release of that document to that reader, under the request's id."""
    problems = []
    for answer in answers:
        for decision_id, allowed in [*((d, True) for d in answer.allowed), *((d, False) for d in answer.denied)]:
            row = rows.get(decision_id)
            where = f"{answer.kind} {answer.request_id} on {answer.replica} (HTTP {answer.status})"
            if row is None:
                problems.append(f"{where}: decision {decision_id} ({'allow' if allowed else 'deny'}) has no log row")
            elif row.allowed is not allowed:
                problems.append(f"{where}: decision {decision_id} answered allowed={allowed}, logged {row.allowed}")
            elif row.request_id != answer.request_id:
                problems.append(f"{where}: decision {decision_id} logged under request id {row.request_id}")
            elif answer.release and (row.channel, row.person_id, row.document_id) != ("release", *answer.release):
                problems.append(f"{where}: decision {decision_id} logged as {row.channel} {row.person_id} "
                                f"{row.document_id}, not the release of {answer.release}")
    return problems


def misbehaviour(answers: Iterable[Answer], refusals: tuple[int, ...] = (503,)) -> list[str]:
    """Answers that are wrong whatever the fault: anything but 200, 403 and a 503 problem; a decision
    other than the registry's; a release whose bytes differ; a lost request id; a client fault.
    `refusals` may admit other statuses as refusals (problem documents without a decision), so that
    a known bug in them can be pinned by a test of its own while the rest is still checked."""
    problems = []
    for a in answers:
        where = f"{a.kind} {a.request_id} on {a.replica}"
        if a.fault:
            problems.append(f"{where}: {a.fault}")
        if a.status is None:
            continue
        if a.status in refusals:
            if not (a.problem and a.problem["content_type"] == PROBLEM_JSON and a.problem.get("status") == a.status):
                problems.append(f"{where}: a {a.status} that is not a problem document: {a.problem}")
            if a.status == 503 and not a.echoed:
                problems.append(f"{where}: X-Request-ID not echoed")
            continue
        if not a.echoed:
            problems.append(f"{where}: X-Request-ID not echoed")
        if a.status == 503:
            problems.append(f"{where}: a 503 where the log was writable: {a.problem}")
        elif a.status == 403 and a.kind != "release" or a.status not in (200, 403):
            problems.append(f"{where}: HTTP {a.status} {a.problem}")
        elif a.given != a.expected:
            problems.append(f"{where}: decided {a.given}, the registry says {a.expected}")
        if a.body_ok is False and a.error is None:
            problems.append(f"{where}: released {a.body_bytes} bytes that differ from the upload")
    return problems


def problems_text(problems: list[str], limit: int = 20) -> str:
    shown = "\n".join(problems[:limit])
    more = f"\n… and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problems:\n{shown}{more}"
