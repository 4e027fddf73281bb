"""Time windows over logs written out of time order by replicas, the change log (R4) and the annual report
(R3) through the audit API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.audit import query
from gateway.audit.chain import append
from gateway.audit.query import DecisionFilter, decision_chunks
from gateway.audit.record import decision_row
from models import ChangeEvent
from tests.audit.scenario import AUDIT, audit_bundle, report_bundle
from tests.conftest import BACKENDS
from tests.support import Clock, Gateway, Keys, assert_problem, fresh_database, running_gateway

# --- time windows --------------------------------------------------------------------------------
#
# A page of a since/until window walks only the seq range its rows lie in (query._newest), yet seq and
# time disagree when replicas' clocks do. Here two replicas take turns: even rows from A, on time; odd
# rows from B, whose clock is 95 s behind. So the window's earliest-logged row is not its lowest seq, nor
# its latest-logged row its highest, and every answer must still be exactly the window, newest first.

W0 = datetime(2026, 3, 1, tzinfo=UTC)
REPLICA_ROWS = 300


def _w(seconds: float, microseconds: int = 0) -> datetime:
    return W0 + timedelta(seconds=seconds, microseconds=microseconds)


def _replica_time(k: int) -> datetime:
    """Row k's time: A's (even k) at 0, 20, 40 s ...; B's (odd k) at -85, -65 ... 15, 35 s (20 s apart)."""
    return _w(10 * k - (95 if k % 2 else 0))


@dataclass
class Replicas:
    gw: Gateway
    rows: list[tuple[str, datetime, str]]  # (decision id, logged_at, person) in seq order

    def expected(self, since: datetime | None, until: datetime | None, person: str | None = None) -> list[str]:
        return [
            decision_id
            for decision_id, at, who in reversed(self.rows)
            if (since is None or at >= since) and (until is None or at < until) and person in (None, who)
        ]


def _replica_decision(k: int) -> dict[str, Any]:
    return decision_row(
        decision_id=f"W{k:04d}", logged_at=_replica_time(k), evaluated_at=_replica_time(k),
        caller_sub="dms-1", caller_client=None, request_id=None, channel="authzen",
        person_id="P-B" if k % 2 else "P-A", document_id="D-E", action="read", allowed=True, reasons=[],
        policy_version="sha256:replicas", facts={}, inputs=None, simulation=False, latency_us=1,
    )  # fmt: skip


def _replica_change(k: int) -> dict[str, Any]:
    replica = "B" if k % 2 else "A"
    return {"at": _replica_time(k), "actor": f"replica-{replica}", "request_id": None, "action": "organ.update",
            "entity": "organ", "entity_id": f"O-{k:04d}", "before": None, "after": None}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys
) -> Iterator[Replicas]:
    """Both logs with the two replicas' rows (each log its own seq), and nothing else."""
    directory = tmp_path_factory.mktemp("replicas")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys, Clock()) as gw:
        with gw.container.engine.begin() as conn:
            append(conn, "decisions", [_replica_decision(k) for k in range(REPLICA_ROWS)])
            append(conn, "changes", [_replica_change(k) for k in range(REPLICA_ROWS)])
        rows = [(f"W{k:04d}", _replica_time(k), "P-B" if k % 2 else "P-A") for k in range(REPLICA_ROWS)]
        yield Replicas(gw, rows)


@dataclass
class Strategy:
    name: str
    range_reads: int = 0  # how often a page learned the exact seq range of its rows


@pytest.fixture(params=["chosen", "scan", "walk"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Strategy:
    """How a page finds where its rows lie: as `_newest` chooses; forced to learn their exact seq range
    wherever it may (scan); or never, walking down to the log's oldest row instead (walk). Every way
    must give the same answers."""
    chosen = Strategy(request.param)
    seq_range = query._Windowed.seq_range

    def counted(self: Any, conn: Any) -> Any:
        chosen.range_reads += 1
        return seq_range(self, conn)

    monkeypatch.setattr(query._Windowed, "seq_range", counted)
    if chosen.name != "chosen":
        spread = 0 if chosen.name == "scan" else 10**12
        monkeypatch.setattr(query._Landmarks, "spread", property(lambda self: spread))
    return chosen


WINDOWS: list[tuple[str, datetime | None, datetime | None]] = [
    ("rows of B above the latest-logged row, rows of A below the earliest", _w(1003), _w(2003)),
    ("since and until on B's rows", _w(1015), _w(2015)),
    ("since and until on A's rows", _w(1000), _w(2000)),
    ("a microsecond after since's row and after until's row", _w(1015, 1), _w(2000, 1)),
    ("near the newest rows", _w(2603), _w(2951)),
    ("since only", _w(2503), None),
    ("until only", None, _w(497)),
    ("around the whole log", _w(-(10**6)), _w(10**6)),
    ("between two rows: empty", _w(1001), _w(1015)),
    ("before the log: empty", _w(-(10**6)), _w(-100)),
    ("after the log: empty", _w(10**6), _w(2 * 10**6)),
]
WINDOW_IDS = [name for name, _, _ in WINDOWS]


def _window_params(since: datetime | None, until: datetime | None) -> dict[str, str]:
    return {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}


def _all_pages(gw: Gateway, path: str, params: dict[str, Any], limit: int) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        query_params = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = gw.client.get(f"/v1/audit/{path}", params=query_params, headers=gw.keys.auth(AUDIT))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        if (cursor := body["next_cursor"]) is None:
            return pages
        assert len(body["items"]) == limit


def test_the_replicas_log_is_out_of_time_order_around_the_windows(replicas: Replicas) -> None:
    """The window tests prove something only if seq and time disagree at the windows' edges."""
    in_window = [(k, at) for k, (_, at, _) in enumerate(replicas.rows) if _w(1003) <= at < _w(2003)]
    earliest, latest = min(in_window, key=lambda r: r[1])[0], max(in_window, key=lambda r: r[1])[0]
    assert any(k < earliest for k, _ in in_window) and any(k > latest for k, _ in in_window)
    assert "W0111" in replicas.expected(_w(1015), _w(2015))  # logged at `since` exactly: in
    assert "W0211" not in replicas.expected(_w(1015), _w(2015))  # logged at `until` exactly: out
    assert "W0111" not in replicas.expected(_w(1015, 1), _w(2000, 1))
    assert "W0200" in replicas.expected(_w(1015, 1), _w(2000, 1))


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_a_time_window_is_exactly_its_rows_on_every_page(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    """Since inclusive, until exclusive, newest first; paged by the cursor, every row exactly once."""
    expected = replicas.expected(since, until)
    assert bool(expected) is ("empty" not in name)
    params = _window_params(since, until)
    [whole] = _all_pages(replicas.gw, "decisions", params, 500)
    assert [i["decision_id"] for i in whole] == expected
    pages = _all_pages(replicas.gw, "decisions", params, 7)
    assert [i["decision_id"] for page in pages for i in page] == expected
    assert len(pages) == max(1, -(-len(expected) // 7))
    if strategy.name == "walk":
        assert strategy.range_reads == 0
    elif strategy.name == "scan" and expected:  # on the first page with `until`, else on the last with `since`
        assert strategy.range_reads >= 1


@pytest.mark.parametrize("person", ["P-B", "P-NOBODY"])
def test_a_time_window_with_another_filter_pages_only_their_common_rows(
    replicas: Replicas, strategy: Strategy, person: str
) -> None:
    params = _window_params(_w(1003), _w(2003)) | {"person": person}
    pages = _all_pages(replicas.gw, "decisions", params, 4)
    assert [i["decision_id"] for page in pages for i in page] == replicas.expected(_w(1003), _w(2003), person)


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_an_export_of_a_time_window_is_its_rows_in_chunks(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    chunks = list(decision_chunks(replicas.gw.container.engine, DecisionFilter(since=since, until=until), chunk=9))
    assert [i["decision_id"] for chunk in chunks for i in chunk] == replicas.expected(since, until)
    assert all(len(chunk) == 9 for chunk in chunks[:-1])


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_a_time_window_of_the_change_log_is_exactly_its_events(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    expected = [f"O-{decision_id[1:]}" for decision_id in replicas.expected(since, until)]
    pages = _all_pages(replicas.gw, "changes", _window_params(since, until), 7)
    assert [i["entity_id"] for page in pages for i in page] == expected


# --- change events -------------------------------------------------------------------------------


def test_change_events_page_newest_first_and_filter_by_time(gateway: Gateway) -> None:
    gateway.import_bundle(audit_bundle())
    response = gateway.client.post("/v1/admin/assessments/A-B/suspend", headers=gateway.keys.auth("registry:admin"))
    assert response.status_code == 200, response.text
    auth = gateway.keys.auth(AUDIT)
    everything = gateway.client.get("/v1/audit/changes", params={"limit": 500}, headers=auth).json()["items"]
    with gateway.container.engine.connect() as conn:
        assert len(everything) == conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one()  # type: ignore[arg-type]
    assert [i["seq"] for i in everything] == sorted((i["seq"] for i in everything), reverse=True)
    newest = everything[0]
    assert (newest["action"], newest["entity"], newest["entity_id"]) == ("assessment.suspend", "assessment", "A-B")
    assert newest["withheld"] is True and newest["fields_changed"] == ["status"] and newest["after"] is None
    assert newest["actor"] == "pep-1"

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        body = gateway.client.get("/v1/audit/changes", params=params, headers=auth).json()
        seen += [i["seq"] for i in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == [i["seq"] for i in everything]

    at = datetime.fromisoformat(newest["at"])
    since = gateway.client.get("/v1/audit/changes", params={"since": newest["at"]}, headers=auth).json()["items"]
    assert newest["seq"] in [i["seq"] for i in since]
    assert all(datetime.fromisoformat(i["at"]) >= at for i in since)
    until = gateway.client.get("/v1/audit/changes", params={"until": newest["at"], "limit": 500}, headers=auth)
    assert all(datetime.fromisoformat(i["at"]) < at for i in until.json()["items"])
    assert_problem(gateway.client.get("/v1/audit/changes", params={"since": "2026-01-01T00:00"}, headers=auth), 400)


# --- annual report (R3) --------------------------------------------------------------------------


def _figures(made: int, in_force: int, cancelled: int, expired: int, a: tuple[int, int, int]) -> Any:
    return {
        "designations": {"made": made, "in_force_at_year_end": in_force, "cancelled": cancelled, "expired": expired},
        "assessments": {"carried_out": a[0], "favourable": a[1], "unfavourable": a[2]},
    }


# R3: each Act apart. METI's designations and assessments are ESI, MOD's SDS (RA-5: a METI official
# assessed by MOD under SDS), so each Act's figures hold only its own.
REPORT_CASES = [
    # METI 2026, ESI: made R-DEC31, R-CAN31; in force R-DEC31, R-CANJAN, R-EXP31; cancelled R-CAN31, R-CANEXP;
    # expired R-EXP, R-EXP31; assessed RA-1 (favourable), RA-2 (unfavourable)
    (2026, "esi", "METI", _figures(2, 3, 2, 2, (2, 1, 1))),
    (2026, "esi", "MOD", _figures(0, 0, 0, 0, (0, 0, 0))),  # MOD's SDS figures are never ESI's
    (2026, "sds", "MOD", _figures(1, 1, 0, 0, (1, 1, 0))),
    (2026, "sds", "METI", _figures(0, 0, 0, 0, (0, 0, 0))),
    (2026, "esi", "NPA", _figures(0, 0, 0, 0, (0, 0, 0))),
    (2026, "esi", "totals", _figures(2, 3, 2, 2, (2, 1, 1))),
    (2026, "sds", "totals", _figures(1, 1, 0, 0, (1, 1, 0))),
    # METI 2027: made R-JAN1; in force R-DEC31, R-JAN1; cancelled R-CANJAN; assessed RA-4
    (2027, "esi", "METI", _figures(1, 2, 1, 0, (1, 1, 0))),
    # METI 2025: made R-CANJAN; in force R-CANJAN, R-EXP, R-EXP31, R-CANEXP; assessed RA-3
    (2025, "esi", "METI", _figures(1, 4, 0, 0, (1, 1, 0))),
    # METI 2024: R-OLD runs through Dec 31, so it is both in force at year-end and expired in the year
    (2024, "esi", "METI", _figures(0, 4, 0, 1, (0, 0, 0))),
]


@pytest.fixture
def reported(gateway: Gateway) -> Gateway:
    gateway.import_bundle(report_bundle())
    return gateway


def _report(gw: Gateway, **params: Any) -> Any:
    return gw.client.get("/v1/audit/reports/annual", params=params, headers=gw.keys.auth(AUDIT))


@pytest.mark.parametrize(("year", "scheme", "organ", "expected"), REPORT_CASES)
def test_r3_annual_report_figures_each_act_apart(
    reported: Gateway, year: int, scheme: str, organ: str, expected: dict[str, Any]
) -> None:
    response = _report(reported, year=year)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["year"] == year and list(report["acts"]) == ["esi", "sds"]
    act = report["acts"][scheme]
    assert act["scheme"] == scheme and act["act"].startswith("Act on the Protection")
    assert [o["organ_id"] for o in act["organs"]] == ["METI", "MOD", "NPA"]
    shown = act["totals"] if organ == "totals" else next(o for o in act["organs"] if o["organ_id"] == organ)
    assert {k: shown[k] for k in expected} == expected
    assert "P-R" not in response.text  # C9: counts, never who


def test_r3_certifications_name_no_act_and_are_reported_once(reported: Gateway) -> None:
    report = _report(reported, year=2026).json()
    assert report["certifications"] == {
        "organs": [
            {"organ_id": "METI", "name": "METI", "certified": 1},  # RC-1
            {"organ_id": "MOD", "name": "MOD", "certified": 1},  # RC-3, revoked since: certified in the year
            {"organ_id": "NPA", "name": "NPA", "certified": 0},
        ],
        "total": 2,
    }
    assert all("certifications" not in o for act in report["acts"].values() for o in act["organs"])


def test_r3_the_report_counts_designations_by_category(reported: Gateway) -> None:
    acts = _report(reported, year=2026).json()["acts"]
    assert acts["esi"]["categories"] == [{"category": "infrastructure", "made": 2, "in_force_at_year_end": 3}]
    assert acts["sds"]["categories"] == [{"category": "defence", "made": 1, "in_force_at_year_end": 1}]


def test_r3_one_act_only(reported: Gateway) -> None:
    report = _report(reported, year=2026, scheme="sds").json()
    assert list(report["acts"]) == ["sds"]
    refused = _report(reported, year=2026, scheme="both")
    assert [e["pointer"] for e in assert_problem(refused, 400)["errors"]] == ["/query/scheme"]


@pytest.mark.parametrize("year", ["0", "10000", "twenty", "2026.5", ""])
def test_annual_report_needs_a_year(reported: Gateway, year: str) -> None:
    response = reported.client.get("/v1/audit/reports/annual", params={"year": year}, headers=reported.keys.auth(AUDIT))
    assert [e["pointer"] for e in assert_problem(response, 400)["errors"]] == ["/query/year"]
