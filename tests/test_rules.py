"""Every rule of domain.md the policy encodes, at its edges, through the real API on both databases.

Each case: who asks for what, at which instant (context.time, a simulation), and the exact reason
codes expected; no codes means allow. The registry is tests/rules_registry.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.rules_registry import rules_bundle
from tests.support import Gateway, Keys, fresh_database, running_gateway

T0 = "2026-06-01T12:00:00+09:00"
JST_MIDNIGHT = "T00:00:00+09:00"
JST_LAST_SECOND = "T23:59:59+09:00"

CASES = [
    # --- allow, and the basics -------------------------------------------------------------------
    ("P-OK", "D-ESI", T0, [], "staff with ESI clearance on the roster"),
    ("P-OK", "D-PUB", T0, [], "unclassified documents need no clearance"),
    ("P-OK", "D-ESI", T0, [], "repeat: memoized answer is the same"),
    ("P-NOBODY", "D-ESI", T0, ["subject_unknown"], "unknown person"),
    ("P-OK", "D-NOTHING", T0, ["document_unknown"], "unknown document"),
    ("P-NOBODY", "D-NOTHING", T0, ["subject_unknown", "document_unknown"], "both unknown"),
    ("P-NOBODY", "D-CAN", T0, ["subject_unknown", "designation_not_in_force"], "unknown person, lapsed designation"),
    # --- C3: validity windows, in Japan time -------------------------------------------------------
    ("P-OK", "D-LONG", "2035-06-01" + JST_LAST_SECOND, [], "C3: ESI notified 2025-06-01 valid through 2035-06-01"),
    ("P-OK", "D-LONG", "2035-06-02" + JST_MIDNIGHT, ["clearance_expired"], "C3: denied from 2035-06-02"),
    ("P-OK", "D-LONG", "2035-06-01T14:59:59Z", [], "C3: 14:59:59Z is still 2035-06-01 in Japan"),
    ("P-OK", "D-LONG", "2035-06-01T15:30:00Z", ["clearance_expired"], "C3: 15:30Z is 2035-06-02 00:30 JST"),
    ("P-OK", "D-LONG", "2035-06-01T08:30:00-07:00", ["clearance_expired"], "C3: any offset, same instant"),
    ("P-LEAP", "D-LEAP", "2038-02-28" + JST_LAST_SECOND, [], "C3: notified 2028-02-29, valid through 2038-02-28"),
    ("P-LEAP", "D-LEAP", "2038-03-01" + JST_MIDNIGHT, ["clearance_expired"], "C3: leap day, denied from 2038-03-01"),
    ("P-SDS", "D-SDS30", "2030-06-01" + JST_LAST_SECOND, [], "C3: SDS 5 years valid through 2030-06-01"),
    ("P-SDS", "D-SDS30", "2030-06-02" + JST_MIDNIGHT, ["clearance_expired"], "C3: SDS denied from 2030-06-02"),
    # --- C4: the most recent assessment counts -----------------------------------------------------
    ("P-SUPER", "D-ESI", "2026-02-28" + JST_LAST_SECOND, [], "C4: favourable until superseded"),
    ("P-SUPER", "D-ESI", "2026-03-01" + JST_MIDNIGHT, ["clearance_missing"], "C4: newer unfavourable replaces it"),
    ("P-UNFAV", "D-ESI", T0, ["clearance_missing"], "C2: an unfavourable result opens nothing"),
    ("P-REV-NEW", "D-ESI", T0, [], "C4: a newer favourable assessment after a revoked one"),
    (
        "P-REV-NEW",
        "D-ESI",
        "2026-01-09" + JST_LAST_SECOND,
        ["clearance_revoked"],
        "C4: before the new one, the revoked",
    ),
    (
        "P-OK",
        "D-ESI",
        "2025-05-31" + JST_LAST_SECOND,
        ["designation_not_in_force", "clearance_missing", "not_on_roster"],
        "before everything: not designated, not yet assessed, not yet on the roster: every code",
    ),
    # --- C5: clearances are per organ --------------------------------------------------------------
    ("P-MOD", "D-ESI", T0, ["clearance_missing"], "C5: MOD staff's MOD clearance does not open METI's ESI"),
    ("P-MOD", "D-MOD", T0, [], "C5: it opens MOD's own SDS"),
    ("P-METI-BY-MOD", "D-ESI", T0, ["clearance_missing"], "C5: METI staff assessed only by MOD"),
    ("P-OK", "D-MOD", T0, ["clearance_missing", "not_on_roster"], "C5: METI clearance, MOD information"),
    # --- C6: the SDS-to-ESI bridge, one way ------------------------------------------------------------
    ("P-SDS", "D-ESI", T0, [], "C6: SDS clearance by the same organ opens its ESI"),
    ("P-SDS", "D-SDS", T0, [], "C6: and its SDS"),
    ("P-OK", "D-SDS", T0, ["clearance_insufficient"], "C6: ESI never opens SDS"),
    # --- C7: suspension and revocation ---------------------------------------------------------------
    ("P-SUSP", "D-ESI", T0, ["clearance_suspended"], "C7: suspended pending re-assessment"),
    ("P-REV", "D-ESI", T0, ["clearance_revoked"], "C7: revoked"),
    # --- C8: exempt offices --------------------------------------------------------------------------
    ("P-EXEMPT", "D-ESI", T0, [], "C8: a Minister of State needs no assessment"),
    ("P-EXEMPT", "D-CAN", T0, ["designation_not_in_force"], "C8: but needs a designation in force"),
    ("P-EXEMPT", "D-SDS", T0, ["not_on_roster"], "C8: and the roster"),
    ("P-NONE", "D-ESI", T0, ["clearance_missing"], "no assessment at all"),
    # --- D3: designation in force ----------------------------------------------------------------------
    ("P-OK", "D-ESI", "2030-05-31" + JST_LAST_SECOND, [], "D3: in force through expires_on"),
    ("P-OK", "D-ESI", "2030-06-01" + JST_MIDNIGHT, ["designation_not_in_force"], "D3: expired"),
    ("P-OK", "D-CAN", "2026-03-31" + JST_LAST_SECOND, [], "D3: in force until the cancellation date"),
    ("P-OK", "D-CAN", "2026-04-01" + JST_MIDNIGHT, ["designation_not_in_force"], "D3: cancelled on its date"),
    ("P-OK", "D-FUT", "2026-12-31" + JST_LAST_SECOND, ["designation_not_in_force"], "D3: not yet in force"),
    ("P-OK", "D-FUT", "2027-01-01" + JST_MIDNIGHT, [], "D3: in force from designated_on"),
    ("P-MULTI", "D-CAN", T0, ["designation_not_in_force", "clearance_missing", "not_on_roster"], "every code at once"),
    # --- N1: rosters -----------------------------------------------------------------------------------
    ("P-NOROSTER", "D-ESI", T0, ["not_on_roster"], "N1: clearance is not enough"),
    ("P-WINDOW", "D-ESI", "2025-12-31" + JST_LAST_SECOND, ["not_on_roster"], "N1: before the roster entry"),
    ("P-WINDOW", "D-ESI", "2026-01-01" + JST_MIDNIGHT, [], "N1: from its first day"),
    ("P-WINDOW", "D-ESI", "2026-12-31" + JST_LAST_SECOND, [], "N1: through its last day"),
    ("P-WINDOW", "D-ESI", "2027-01-01" + JST_MIDNIGHT, ["not_on_roster"], "N1: not after it"),
    # --- B1-B3: contractors -------------------------------------------------------------------------------
    ("C-OK", "D-ESI", T0, [], "B1: certified employer, contract covers designation and department"),
    (
        "C-OK",
        "D-ESI",
        "2025-06-30" + JST_LAST_SECOND,
        ["employer_not_certified", "contract_not_in_force"],
        "B1: before certification and contract",
    ),
    ("C-OK", "D-ESI", "2025-07-01" + JST_MIDNIGHT, [], "B1: from the day both start"),
    ("C-OK", "D-ESI", "2027-06-30" + JST_LAST_SECOND, [], "B1: through the contract's last day"),
    ("C-OK", "D-ESI", "2027-07-01" + JST_MIDNIGHT, ["contract_not_in_force"], "B3: the contract ended"),
    ("C-OK", "D-FUT", "2027-02-01" + JST_MIDNIGHT, ["contract_not_in_force"], "B2: contract does not list it"),
    ("C-SALES", "D-ESI", T0, ["contract_not_in_force"], "B2: department not covered"),
    ("C-BETA", "D-ESI", T0, ["employer_not_certified", "contract_not_in_force"], "B1: no certification, no contract"),
    ("C-GAMMA", "D-ESI", T0, ["employer_not_certified"], "B3: certification suspended"),
    ("C-DELTA", "D-ESI", T0, ["employer_not_certified"], "B3: certification revoked"),
    ("C-EPS", "D-ESI", "2026-03-31" + JST_LAST_SECOND, [], "B3: contract in force on its last day"),
    ("C-EPS", "D-ESI", T0, ["contract_not_in_force"], "B3: the day after, every employee loses access"),
    ("C-SDS", "D-SDS", T0, ["clearance_insufficient"], "C6 for contractors: ESI does not open SDS"),
    ("C-MODCLR", "D-ESI", T0, ["clearance_missing"], "C5: a contractor's clearance must be by the providing organ"),
    ("C-ZETA", "D-MOD", T0, [], "B4/C5: MOD certifies and contracts its own operator"),
    (
        "C-ZETA",
        "D-ESI",
        T0,
        ["clearance_missing", "employer_not_certified", "contract_not_in_force", "not_on_roster"],
        "B4: certification by MOD does not open METI's information",
    ),
    # --- actions ------------------------------------------------------------------------------------------
    ("P-OK", "D-ESI", T0, ["action_not_permitted"], "print is not an action the shipped policy grants"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def rules(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Gateway]:
    directory: Path = tmp_path_factory.mktemp(f"rules-{request.param}")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys) as gw:
        gw.import_bundle(rules_bundle())
        yield gw


@pytest.mark.parametrize(("person", "document", "at", "expected", "why"), CASES, ids=[c[4] for c in CASES])
def test_rule(rules: Gateway, person: str, document: str, at: str, expected: list[str], why: str) -> None:
    action = "print" if expected == ["action_not_permitted"] else "read"
    answer = rules.evaluate(person, document, action, at)
    codes = [r["code"] for r in answer["context"]["reasons"]]
    assert answer["decision"] is (expected == []), answer
    assert codes == expected, answer
    assert all(r["message"] for r in answer["context"]["reasons"])
    assert answer["context"]["simulation"] is True


def test_messages_name_the_facts(rules: Gateway) -> None:
    body = {"subject": {"type": "person", "id": "P-OK"}, "resource": {"type": "document", "id": "D-LONG"},
            "action": {"name": "read"}, "context": {"time": "2035-06-02T00:00:00+09:00"}}
    admin = rules.keys.auth("authz:evaluate", "authz:simulate", "registry:admin")  # C9: an administrator
    [reason] = rules.client.post("/access/v1/evaluation", json=body, headers=admin).json()["context"]["reasons"]
    assert reason["message"] == "ESI assessment A-OK by METI notified 2025-06-01 ran out on 2035-06-01"
    [reason] = rules.evaluate("P-OK", "D-CAN", at=T0)["context"]["reasons"]
    assert "cancelled with effect from 2026-04-01" in reason["message"]
    [reason] = rules.evaluate("P-MOD", "D-ESI", at=T0)["context"]["reasons"]
    assert "P-MOD serves MOD" in reason["message"] and "C5" in reason["message"]


def test_the_clock_decides_without_context_time(rules: Gateway) -> None:
    rules.clock.set("2035-06-01T15:30:00+00:00")
    answer = rules.client.post(
        "/access/v1/evaluation",
        headers=rules.keys.auth("authz:evaluate"),
        json={
            "subject": {"type": "person", "id": "P-OK"},
            "resource": {"type": "document", "id": "D-LONG"},
            "action": {"name": "read"},
        },
    ).json()
    assert [r["code"] for r in answer["context"]["reasons"]] == ["clearance_expired"]
    assert "simulation" not in answer["context"]
    rules.clock.set("2035-06-01T14:59:59+00:00")
    answer = rules.client.post(
        "/access/v1/evaluation",
        headers=rules.keys.auth("authz:evaluate"),
        json={
            "subject": {"type": "person", "id": "P-OK"},
            "resource": {"type": "document", "id": "D-LONG"},
            "action": {"name": "read"},
        },
    ).json()
    assert answer["decision"] is True
