"""Registry administration over HTTP (api.md "Administration"): the expiring list, who may call, and
lists and filters that mean what they say."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.api.registry_admin import router
from gateway.registry import admin as admin_module
from tests.registry.admin_calls import call, event_count
from tests.rules_registry import rules_bundle
from tests.support import Gateway, assert_problem, carried_over

# --- expiring ------------------------------------------------------------------------------------


def _assessment(id_: str, person: str, notified: str, scheme: str = "esi", **extra: str) -> dict[str, Any]:
    return {
        "id": id_,
        "person_id": person,
        "organ_id": "METI",
        "scheme": scheme,
        "result": "favourable",
        "notified_on": notified,
    } | extra


def _designation(id_: str, start: str, end: str, **extra: str) -> dict[str, Any]:
    return {
        "id": id_,
        "organ_id": "METI",
        "scheme": "esi",
        "category": "supply-chain",
        "summary": "s",
        "designated_on": start,
        "expires_on": end,
    } | extra


def _contract(id_: str, end: str) -> dict[str, Any]:
    return {
        "id": id_,
        "operator_id": "ACME",
        "organ_id": "METI",
        "starts_on": "2025-01-01",
        "ends_on": end,
        "designation_ids": [],
        "departments": [],
    }


def expiring_bundle() -> dict[str, Any]:
    """Today is 2026-06-01; a 90-day window runs through 2026-08-30."""
    persons = ["P-EDGE", "P-TODAY", "P-GONE", "P-OUT", "P-SDS", "P-RENEWED", "P-SUSP", "P-UNFAV"]
    return carried_over({
        "organs": [{"id": "METI", "name": "METI"}],
        "operators": [{"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"}],
        "persons": [{"id": p, "name": p, "kind": "government", "organ_id": "METI"} for p in persons],
        "assessments": [
            _assessment("A-EDGE", "P-EDGE", "2016-08-30"),  # C3: valid through 2026-08-30, the window's last day
            _assessment("A-TODAY", "P-TODAY", "2016-06-01"),  # valid through today
            _assessment("A-GONE", "P-GONE", "2016-05-31"),  # ended yesterday
            _assessment("A-OUT", "P-OUT", "2016-08-31"),  # through 2026-08-31: one day past the window
            _assessment("A-SDS", "P-SDS", "2021-07-01", scheme="sds"),  # five years: through 2026-07-01
            _assessment("A-OLD", "P-RENEWED", "2016-07-01"),  # C4: a newer one counts instead
            _assessment("A-NEW", "P-RENEWED", "2024-01-01"),
            _assessment("A-SUSP", "P-SUSP", "2016-07-01", status="suspended"),
            _assessment("A-UNFAV", "P-UNFAV", "2016-07-01", result="unfavourable"),
        ],
        "designations": [
            _designation("G-EDGE", "2021-09-01", "2026-08-30"),
            _designation("G-OUT", "2021-09-01", "2026-08-31"),
            _designation("G-CAN", "2021-09-01", "2026-07-01", cancelled_on="2026-05-01"),
            _designation("G-GONE", "2021-06-01", "2026-05-31"),
        ],
        "contracts": [
            _contract("K-TODAY", "2026-06-01"),
            _contract("K-EDGE", "2026-08-30"),
            _contract("K-OUT", "2026-08-31"),
            _contract("K-GONE", "2026-05-31"),
        ],
    })


WINDOWS = [
    (
        "90d",
        90,
        [
            ("assessment", "A-TODAY", "2026-06-01", 0),
            ("contract", "K-TODAY", "2026-06-01", 0),
            ("assessment", "A-SDS", "2026-07-01", 30),
            ("assessment", "A-EDGE", "2026-08-30", 90),
            ("contract", "K-EDGE", "2026-08-30", 90),
            ("designation", "G-EDGE", "2026-08-30", 90),
        ],
    ),
    ("90", 90, None),
    (
        "12w",
        84,
        [
            ("assessment", "A-TODAY", "2026-06-01", 0),
            ("contract", "K-TODAY", "2026-06-01", 0),
            ("assessment", "A-SDS", "2026-07-01", 30),
        ],
    ),
    ("0d", 0, [("assessment", "A-TODAY", "2026-06-01", 0), ("contract", "K-TODAY", "2026-06-01", 0)]),
]


@pytest.mark.parametrize(("within", "days", "expected"), WINDOWS)
def test_expiring_lists_what_ends_within_the_window_and_has_not_ended(
    gateway: Gateway, within: str, days: int, expected: list[tuple[str, str, str, int]] | None
) -> None:
    gateway.import_bundle(expiring_bundle())
    response = call(gateway, "GET", f"/expiring?within={within}")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["today"], answer["within_days"]) == ("2026-06-01", days)
    got = [(i["kind"], i["id"], i["last_day"], i["days_left"]) for i in answer["items"]]
    assert got == (expected if expected is not None else WINDOWS[0][2])
    concerns = {i["id"]: i["concerns"] for i in answer["items"]}
    assert concerns["A-TODAY"] == {"person": "P-TODAY", "organ": "METI"}
    assert concerns["K-TODAY"] == {"operator": "ACME", "organ": "METI"}


@pytest.mark.parametrize("within", ["90x", "-1", "d", "99999999"])
def test_expiring_refuses_a_window_it_cannot_read(gateway: Gateway, within: str) -> None:
    assert_problem(call(gateway, "GET", f"/expiring?within={within}"), 400, "/query/within", says="")


# --- who may call --------------------------------------------------------------------------------

ROUTES = sorted((method, route.path) for route in router.routes for method in route.methods)  # type: ignore[attr-defined]


def test_every_route_needs_registry_admin(registry: Gateway) -> None:
    count = event_count(registry)
    for method, path in ROUTES:
        concrete = path.replace("{id}", "A-OK").replace("{designation_id}", "G-ESI").replace("{person_id}", "P-OK")
        for scope in ("audit:read", "authz:evaluate", "policy:admin"):
            response = registry.client.request(method, concrete, headers=registry.keys.auth(scope), json={})
            assert response.status_code == 403, (method, path, scope, response.text)
        assert registry.client.request(method, concrete).status_code == 401, (method, path)
    assert len(ROUTES) >= 6 + 2 + 2 + 7 * 4 + 1
    assert event_count(registry) == count


# --- reads that mean what they say -----------------------------------------------------------------

LISTS = sorted(admin_module.FILTERS)


def _filter_cases() -> list[tuple[str, str, str, list[str]]]:
    """(list, filter, a value the rules registry has, the ids it must give) for every real filter."""
    bundle, cases = rules_bundle(), []
    for plural, names in sorted(admin_module.FILTERS.items()):
        for name in names:
            if name == "designation_id":  # contracts: the ones providing the designation (B2)
                value = "G-SDS"
                ids = [r["id"] for r in bundle[plural] if value in r["designation_ids"]]
            else:
                value = next(r[name] for r in bundle[plural] if r.get(name) is not None)
                ids = [r["id"] for r in bundle[plural] if r.get(name) == value]
            cases.append((plural, name, value, sorted(ids)))
    return cases


@pytest.mark.parametrize(("plural", "name", "value", "ids"), _filter_cases())
def test_each_list_filter_gives_only_what_it_names(
    registry: Gateway, plural: str, name: str, value: str, ids: list[str]
) -> None:
    listed = call(registry, "GET", f"/{plural}", params={name: value, "limit": "1000"})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == ids and listed.json()["total"] == len(ids)
    nothing = call(registry, "GET", f"/{plural}", params={name: "no-such-value"}).json()
    assert (nothing["items"], nothing["total"]) == ([], 0)  # never ignored


@pytest.mark.parametrize("path", [f"/{plural}" for plural in LISTS] + ["/rosters", "/expiring"])
def test_a_list_refuses_a_filter_it_does_not_have_instead_of_ignoring_it(registry: Gateway, path: str) -> None:
    """GET /v1/admin/assessments?person_id=P-0001 once listed everyone's assessments."""
    assert_problem(call(registry, "GET", path, params={"colour": "red"}), 400, "/query/colour", says="not a filter")
    if path == "/persons":
        repeated = call(registry, "GET", "/persons?kind=government&kind=contractor")
        assert_problem(repeated, 400, "/query/kind", says="more than once")


def test_the_assessments_of_one_person_are_hers_alone(registry: Gateway) -> None:
    listed = call(registry, "GET", "/assessments?person_id=P-OK").json()["items"]
    assert listed and {a["person_id"] for a in listed} == {"P-OK"}


def test_n1_rosters_are_listed_by_designation_by_person_or_both(registry: Gateway) -> None:
    expected = [r for r in rules_bundle()["rosters"] if r["designation_id"] == "G-SDS"]
    by_designation = call(registry, "GET", "/rosters?designation=G-SDS").json()
    assert by_designation["items"] == sorted(expected, key=lambda r: r["person_id"])
    assert by_designation["total"] == len(expected)
    by_person = call(registry, "GET", "/rosters?person=P-OK").json()["items"]
    assert {(r["designation_id"], r["person_id"]) for r in by_person} == {
        (g, "P-OK") for g in ("G-ESI", "G-SDS", "G-CAN", "G-FUT", "G-LONG")
    }
    both = call(registry, "GET", "/rosters?designation=G-SDS&person=P-OK").json()["items"]
    assert both == [{"designation_id": "G-SDS", "person_id": "P-OK", "from": "2025-06-01", "until": None}]
    paged = call(registry, "GET", "/rosters?limit=2&offset=1").json()
    assert len(paged["items"]) == 2 and paged["total"] == len(rules_bundle()["rosters"])


def test_n1_a_designations_record_includes_its_roster_and_round_trips(registry: Gateway) -> None:
    record = call(registry, "GET", "/designations/G-SDS").json()
    assert [(r["person_id"], r["from"], r["until"]) for r in record["roster"]] == [
        ("C-SDS", "2025-06-01", None),
        ("P-OK", "2025-06-01", None),
        ("P-SDS", "2025-06-01", None),
    ]
    count = event_count(registry)
    assert call(registry, "PUT", "/designations/G-SDS", record).status_code == 200  # the roster is read-only here
    assert event_count(registry) == count
