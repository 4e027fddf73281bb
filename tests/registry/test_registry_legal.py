"""Registry rules that keep the past and a designation's identity as the Acts fix them, by import and
by the admin API alike: D1 (a designation's scheme and organ never change), D3/D6 (a cancellation
takes effect today or later), D2/D3 (an expired designation is not revived), and the ledger dated in
the configured zone. The gateway's clock stands at 2026-06-01T03:00Z (12:00 in Japan)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gateway.registry.bundles import export_bundle
from models import DesignationEvent
from tests.rules_registry import rules_bundle
from tests.support import Gateway, assert_problem

ADMIN = "registry:admin"
TOKYO_MIDNIGHT = "2026-06-01T15:00:00+00:00"  # 2026-06-02 00:00 in Japan


def designation(**fields: Any) -> dict[str, Any]:
    base = next(d for d in rules_bundle()["designations"] if d["id"] == "G-ESI")
    if fields.get("scheme") == "sds" and "category" not in fields:
        fields["category"] = "defence"  # D4: a category of the SDS catalogue
    return {**base, **fields}


def post_import(gw: Gateway, bundle: dict[str, Any]) -> Any:
    return gw.client.post("/v1/admin/registry/import", json=bundle, headers=gw.keys.auth(ADMIN))


def admin(gw: Gateway, method: str, path: str, body: Any = None) -> Any:
    return gw.client.request(method, "/v1/admin" + path, json=body, headers=gw.keys.auth(ADMIN))


def problem_at(response: Any, status: int, pointer: str) -> str:
    """The detail of the problem's first error at `pointer`."""
    body = assert_problem(response, status, pointer)
    return next(e["detail"] for e in body["errors"] if e["pointer"] == pointer)


def stored(gw: Gateway, entity_id: str, plural: str = "designations") -> dict[str, Any]:
    response = admin(gw, "GET", f"/{plural}/{entity_id}")
    assert response.status_code == 200, response.text
    return response.json()


def ledger(gw: Gateway, designation_id: str) -> list[tuple[str, str]]:
    table = DesignationEvent.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.designation_id == designation_id).order_by(table.c.seq))
        return [(r.kind, r.on.isoformat()) for r in rows]


# --- D1: scheme and organ are fixed once made (fails open otherwise: SDS <-> ESI changes who may read) ---


@pytest.mark.parametrize(
    ("field", "value", "says"), [("scheme", "sds", "scheme"), ("organ_id", "MOD", "designating organ")]
)
def test_d1_an_import_cannot_change_a_designations_scheme_or_organ(
    registry: Gateway, field: str, value: str, says: str
) -> None:
    response = post_import(registry, {"designations": [designation(**{field: value})]})
    detail = problem_at(response, 422, f"/designations/0/{field}")
    assert f"the {says}" in detail and "never changes (D1" in detail and "make a new designation" in detail
    assert stored(registry, "G-ESI")[field] == designation()[field]
    assert registry.codes("P-SDS", "D-ESI") == []  # still decided as ESI


@pytest.mark.parametrize(("field", "value"), [("scheme", "sds"), ("organ_id", "MOD")])
def test_d1_the_admin_api_cannot_change_a_designations_scheme_or_organ(
    registry: Gateway, field: str, value: str
) -> None:
    body = {k: v for k, v in designation(**{field: value}).items() if k != "id"}
    detail = problem_at(admin(registry, "PUT", "/designations/G-ESI", body), 422, f"/{field}")
    assert "never changes (D1" in detail
    assert stored(registry, "G-ESI")[field] == designation()[field]


# --- D3, D6: a cancellation takes effect today or later ------------------------------------------------


def test_d3_a_backdated_cancellation_is_refused_by_the_api(registry: Gateway) -> None:
    response = admin(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-05-31"})
    detail = problem_at(response, 422, "/cancelled_on")
    assert detail.startswith("a cancellation takes effect today (2026-06-01) or later, not on 2026-05-31")
    assert stored(registry, "G-ESI")["cancelled_on"] is None
    assert ledger(registry, "G-ESI") == [("designated", "2025-06-01")]
    today = admin(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-06-01"})
    assert today.status_code == 200, today.text
    assert ledger(registry, "G-ESI")[-1] == ("cancelled", "2026-06-01")


@pytest.mark.parametrize(
    ("now", "day", "status"),
    [
        ("2026-06-01T14:59:59+00:00", "2026-06-01", 200),  # 23:59:59 in Japan: still 1 June
        (TOKYO_MIDNIGHT, "2026-06-01", 422),  # midnight in Japan: 1 June is yesterday
        (TOKYO_MIDNIGHT, "2026-06-02", 200),
    ],
)
def test_d3_today_is_the_day_in_japan(registry: Gateway, now: str, day: str, status: int) -> None:
    registry.clock.set(now)
    response = admin(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": day})
    assert response.status_code == status, response.text


def test_d3_an_import_cannot_backdate_a_cancellation_of_an_existing_designation(registry: Gateway) -> None:
    response = post_import(registry, {"designations": [designation(cancelled_on="2026-05-01")]})
    assert "takes effect today (2026-06-01) or later" in problem_at(response, 422, "/designations/0/cancelled_on")
    assert stored(registry, "G-ESI")["cancelled_on"] is None
    later = post_import(registry, {"designations": [designation(cancelled_on="2026-07-01")]})
    assert later.status_code == 200, later.text
    assert stored(registry, "G-ESI")["cancelled_on"] == "2026-07-01"


def test_d3_a_new_designation_brings_its_own_recorded_cancellation(registry: Gateway) -> None:
    """Records carry their own dates: a designation first imported with a cancellation that already
    happened is history being recorded, not a change reaching back (nothing was decided on it here)."""
    new = designation(id="G-HIST", designated_on="2025-06-01", expires_on="2030-05-31", cancelled_on="2026-01-31")
    assert post_import(registry, {"designations": [new]}).status_code == 200
    assert ledger(registry, "G-HIST") == [("designated", "2025-06-01"), ("cancelled", "2026-01-31")]


# --- D2, D3: an expired designation is not revived; the ledger is dated in Japan -----------------------


def test_d2_an_import_cannot_revive_an_expired_designation_nor_can_the_api(registry: Gateway) -> None:
    old = designation(id="G-OLD", scheme="sds", designated_on="2021-06-01", expires_on="2026-05-31")
    assert post_import(registry, {"designations": [old]}).status_code == 200
    revived = post_import(registry, {"designations": [{**old, "expires_on": "2027-05-31"}]})
    detail = problem_at(revived, 422, "/designations/0/expires_on")
    assert detail == (
        "designation G-OLD expired on 2026-05-31; an extension is made while it is in force (D2, D3): make a new "
        "designation instead"
    )
    extend = admin(registry, "POST", "/designations/G-OLD/extend", {"expires_on": "2027-05-31"})
    assert extend.status_code == 409 and extend.json()["detail"] == detail  # one rule, one message
    assert stored(registry, "G-OLD")["expires_on"] == "2026-05-31"


def test_d6_an_extension_by_import_is_dated_in_the_ledger_on_the_day_in_japan(registry: Gateway) -> None:
    registry.clock.set(TOKYO_MIDNIGHT)
    response = post_import(registry, {"designations": [designation(expires_on="2031-05-31")]})
    assert response.status_code == 200, response.text
    assert ledger(registry, "G-ESI")[-1] == ("extended", "2026-06-02")


# --- the ESI Act took effect on 2025-05-16: no ESI record before it, unless carried over ----------------


def assessment(**fields: Any) -> dict[str, Any]:
    base = {"id": "A-NEW", "person_id": "P-NOROSTER", "organ_id": "METI", "scheme": "esi", "result": "favourable"}
    return {**base, "notified_on": "2025-05-16", "status": "active", **fields}


@pytest.mark.parametrize(
    ("entry", "pointer"),
    [
        ({"assessments": [assessment(notified_on="2025-05-15")]}, "/assessments/0/notified_on"),
        (
            {"designations": [designation(id="G-NEW", designated_on="2025-05-15", expires_on="2030-05-14")]},
            "/designations/0/designated_on",
        ),
    ],
)
def test_an_esi_record_before_the_act_is_refused_unless_marked_transitional(
    registry: Gateway, entry: dict[str, Any], pointer: str
) -> None:
    detail = problem_at(post_import(registry, entry), 422, pointer)
    assert detail.startswith("an ESI ") and "predates the ESI Act (2025-05-16)" in detail
    assert '"transitional": true' in detail
    section = next(iter(entry))
    marked = {section: [{**entry[section][0], "transitional": True}]}
    assert post_import(registry, marked).status_code == 200
    record = stored(registry, "G-NEW" if section == "designations" else "A-NEW", section)
    assert record["transitional"] is True


@pytest.mark.parametrize(
    "entry",
    [
        {"assessments": [assessment()]},  # the day the Act took effect
        {"assessments": [assessment(scheme="sds", notified_on="2020-04-01")]},  # SDS records are older
        {"designations": [designation(id="G-NEW", scheme="sds", designated_on="2021-06-01", expires_on="2026-05-31")]},
    ],
)
def test_records_the_act_allows_import_unmarked(registry: Gateway, entry: dict[str, Any]) -> None:
    assert post_import(registry, entry).status_code == 200, entry


def test_the_admin_api_applies_the_same_floor(registry: Gateway) -> None:
    body = {k: v for k, v in assessment(notified_on="2024-12-31").items() if k != "id"}
    problem_at(admin(registry, "PUT", "/assessments/A-NEW", body), 422, "/notified_on")


def test_an_export_shows_the_mark_only_where_it_is_set(registry: Gateway) -> None:
    post_import(registry, {"assessments": [assessment(notified_on="2020-01-01", transitional=True)]})
    entries = {a["id"]: a for a in export_bundle(registry.container.engine)["assessments"]}
    assert entries["A-NEW"]["transitional"] is True and "transitional" not in entries["A-OK"]


# --- D3, D6: a past cancellation is recorded only as a correction, with its reason ----------------------


def test_d6_a_cancellation_is_dated_back_only_by_a_correction_with_its_reason(registry: Gateway) -> None:
    assert registry.codes("P-OK", "D-ESI", at="2026-05-15T12:00:00+09:00") == []
    body = {"cancelled_on": "2026-05-01", "reason": "cancelled by the Minister's order of 1 May; recorded late"}
    response = admin(registry, "POST", "/designations/G-ESI/correct-cancellation", body)
    assert response.status_code == 200, response.text
    assert stored(registry, "G-ESI")["cancelled_on"] == "2026-05-01"
    assert ledger(registry, "G-ESI")[-1] == ("corrected", "2026-05-01")
    events = registry.client.get("/v1/audit/changes", headers=registry.keys.auth("audit:read")).json()["items"]
    event = next(e for e in events if e["action"] == "designation.correct")
    assert event["after"]["reason"] == body["reason"] and event["before"]["cancelled_on"] is None
    assert registry.codes("P-OK", "D-ESI") == ["designation_not_in_force"]
    # a decision about an instant before the correction was made is decided as the gateway knew it then
    assert registry.codes("P-OK", "D-ESI", at="2026-06-01T02:00:00+00:00") == []


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"cancelled_on": "2026-05-01", "reason": "  "}, 422, "/reason"),
        ({"cancelled_on": "2026-05-01"}, 400, "/reason"),
        ({"cancelled_on": "2025-05-31", "reason": "before it was made"}, 422, "/cancelled_on"),
        ({"cancelled_on": "2030-06-01", "reason": "after it expired"}, 422, "/cancelled_on"),
    ],
)
def test_d6_a_correction_without_a_reason_or_outside_the_period_is_refused(
    registry: Gateway, body: dict[str, Any], status: int, pointer: str
) -> None:
    response = admin(registry, "POST", "/designations/G-ESI/correct-cancellation", body)
    problem_at(response, status, pointer)
    assert stored(registry, "G-ESI")["cancelled_on"] is None


def test_d6_the_correction_from_the_command_line(registry: Gateway, tmp_path: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app as cli

    monkeypatch.setenv("GATEWAY_DATABASE_URL", str(registry.container.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(registry.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(tmp_path / "documents"))
    refused = CliRunner().invoke(cli, ["registry", "cancel", "G-ESI", "--on", "2025-07-01"])
    assert refused.exit_code == 1 and "takes effect today" in refused.stderr
    done = CliRunner().invoke(
        cli, ["registry", "correct-cancellation", "G-ESI", "--on", "2025-07-01", "--reason", "recorded late"]
    )
    assert done.exit_code == 0, done.output
    assert "corrected to 2025-07-01" in done.stdout
    assert stored(registry, "G-ESI")["cancelled_on"] == "2025-07-01"
