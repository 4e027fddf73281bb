"""Access reviews (scope registry:admin or audit:read): who may read a designation, who on its roster
may not and why, who loses access within N days; what one person may read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from gateway.access_review import NotFound as NothingToReview
from gateway.access_review import PersonReview, Review, Reviewer, window_error
from gateway.api.deps import ContainerDep, scoped
from gateway.auth import Caller
from gateway.container import Container
from gateway.errors import FieldError, InvalidInput, NotFound
from gateway.limits import instant_error

router = APIRouter(prefix="/v1/access", tags=["access reviews"])
READERS = ("registry:admin", "audit:read")
T = TypeVar("T")
ADMINISTRATOR = "registry:admin"  # C9: who reads an assessment's details in the reasons

At = Annotated[
    str | None,
    Query(
        description="the instant reviewed: ISO 8601 with its offset (write `+` as %2B), or a day YYYY-MM-DD "
        "(its end, in the gateway's zone); a past instant is reviewed on the registry as it stood then; "
        "default now"
    ),
]
Within = Annotated[int, Query(description="how many days ahead to look for losses of access (0 to 3660)")]


def parse_at(text: str | None, zone: ZoneInfo, now: datetime) -> tuple[datetime, bool]:
    """(the instant, whether it is the present); a day is its last instant in `zone`. Raises ValueError."""
    if text is None or not text.strip():
        return now, True
    text = text.strip()
    if len(text) == 10:
        day = datetime.fromisoformat(text).date()
        at = datetime.combine(day, time.max, tzinfo=zone)
    else:
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            raise ValueError("give the offset, e.g. 2026-02-01T09:00:00+09:00, or a day 2026-02-01")
    if (error := instant_error(at)) is not None:
        raise ValueError(error)
    return at, at >= now


def _inputs(container: Container, at: str | None, within_days: int) -> tuple[datetime, bool]:
    errors = []
    try:
        instant, present = parse_at(at, container.settings.zone, container.decisions.clock())
    except ValueError as exc:
        errors.append(FieldError(("query", "at"), str(exc)))
    if (error := window_error(within_days)) is not None:
        errors.append(FieldError(("query", "within_days"), error))
    if errors:
        raise InvalidInput("the review's parameters are invalid", errors)
    return instant, present


async def review_answer(
    container: Container,
    caller: Caller,
    at: str | None,
    within_days: int,
    designation: str | None = None,
    document: str | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """The review of a designation, of a document's designation, or of `target` (either: a page's one
    field), as the API answers it."""
    if (designation is None) == (document is None) and target is None:
        raise InvalidInput(
            "name what to review",
            [FieldError(("query", "designation"), "give a designation or a document, not both")],
        )
    instant, present = _inputs(container, at, within_days)
    snapshot: Any = await container.decisions.snapshot()
    if target is not None:
        if target not in snapshot.designations and target not in snapshot.documents:
            raise NotFound(f"no designation or document {target} in the registry")
        designation, document = (target, None) if target in snapshot.designations else (None, target)
    review: Review = await _reviewed(
        container,
        lambda reviewer, policy: reviewer.review(
            snapshot,
            policy,
            instant,
            present=present,
            designation_id=designation,
            document_id=document,
            within_days=within_days,
        ),
    )
    return review.as_dict(caller.has(ADMINISTRATOR))


async def _reviewed(container: Container, work: Callable[[Reviewer, Any], T]) -> T:
    """`work(reviewer, policy)` on a worker thread (a review decides thousands of pairs); nothing to
    review is a 404."""
    reviewer = Reviewer(container.search.finder)
    try:
        return await run_in_threadpool(work, reviewer, container.policies.current)
    except NothingToReview as exc:
        raise NotFound(str(exc)) from exc


@router.get("/review", summary="Who may read a designation's documents, who on its roster may not, who loses access")
async def review(
    container: ContainerDep,
    designation: Annotated[str | None, Query(description="the designation reviewed")] = None,
    document: Annotated[str | None, Query(description="or a document: its designation is reviewed")] = None,
    at: At = None,
    within_days: Within = 30,
    caller: Caller = scoped(*READERS),
) -> dict[str, Any]:
    return await review_answer(container, caller, at, within_days, designation, document)


@router.get("/who", summary="Who may read a designation's (or a document's) documents, and on what basis")
async def who(
    container: ContainerDep,
    designation: Annotated[str | None, Query(description="the designation")] = None,
    document: Annotated[str | None, Query(description="or a document")] = None,
    at: At = None,
    caller: Caller = scoped(*READERS),
) -> dict[str, Any]:
    answer = await review_answer(container, caller, at, 0, designation, document)
    for key in ("may_not", "losing", "within_days"):
        answer.pop(key)
    answer["counts"] = {"may_read": answer["counts"]["may_read"]}
    return answer


@router.get("/what", summary="What one person may read: per designation, with the reasons and losses ahead")
async def what(
    container: ContainerDep,
    person: Annotated[str, Query(description="the person")],
    at: At = None,
    within_days: Within = 30,
    caller: Caller = scoped(*READERS),
) -> dict[str, Any]:
    return await person_answer(container, caller, person, at, within_days)


async def person_answer(
    container: Container, caller: Caller, person: str, at: str | None, within_days: int
) -> dict[str, Any]:
    """What `person` may read, as the API answers it."""
    instant, present = _inputs(container, at, within_days)
    snapshot: Any = await container.decisions.snapshot()
    answer: PersonReview = await _reviewed(
        container,
        lambda reviewer, policy: reviewer.person(
            snapshot, policy, person, instant, present=present, within_days=within_days
        ),
    )
    return answer.as_dict(caller.has(ADMINISTRATOR))
