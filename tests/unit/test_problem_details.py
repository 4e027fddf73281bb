"""Domain errors carry no HTTP status; gateway/problem_details.py is the one table that maps them to RFC
9457 problems. Every error class the gateway defines maps to a status of its own (none falls through to
500 by accident), and the body and headers each kind needs are there."""

from __future__ import annotations

import pytest

import gateway.app  # noqa: F401  (imports every module that defines an error)
from gateway import errors
from gateway.errors import FieldError, Problem
from gateway.problem_details import INTERNAL, kind_of, problem_body, problem_headers

EXPECTED = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.ReleaseDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.RefusedData: 422,
    errors.PolicyRefused: 422,
    errors.ReleaseFailed: 500,
    errors.Unavailable: 503,
}


def _every_subclass(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_every_subclass(direct)}}


@pytest.mark.parametrize(("cls", "status"), EXPECTED.items(), ids=[c.__name__ for c in EXPECTED])
def test_each_kind_has_its_status(cls: type[Problem], status: int) -> None:
    problem = cls("x", "01ID") if cls is errors.ReleaseDenied else cls("x", []) if issubclass(
        cls, errors.InvalidInput) else cls("x")  # fmt: skip
    assert kind_of(problem).status == status


def test_no_error_the_gateway_defines_falls_through_to_500_unnoticed() -> None:
    for cls in _every_subclass(Problem):
        if cls.__module__.startswith("gateway") and cls is not errors.ReleaseFailed:
            assert any(base in EXPECTED for base in cls.__mro__), f"{cls.__qualname__} has no kind in the table"


def test_bodies_and_headers() -> None:
    invalid = problem_body(errors.RefusedData("refused", [FieldError(("persons", 0, "organ_id"), "unknown organ")]))
    assert invalid["status"] == 422 and invalid["type"].endswith("/invalid-registry-data")
    assert invalid["errors"] == [{"pointer": "/persons/0/organ_id", "path": "$.persons[0].organ_id",
                                  "detail": "unknown organ"}]  # fmt: skip
    assert problem_headers(errors.Unauthenticated("no token")) == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert problem_headers(errors.Unavailable("later", retry_after=3)) == {"Retry-After": "3"}
    denied = errors.ReleaseDenied("no", "01J0000000000000000000000")
    assert problem_headers(denied) == {"X-Decision-Id": "01J0000000000000000000000"}
    assert problem_body(denied)["decision_id"] == "01J0000000000000000000000"
    assert kind_of(Problem("crash")) == INTERNAL
