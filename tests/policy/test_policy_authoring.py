"""Policy authoring an administrator can trust: the reload gate, `policy apply`, `policy diff` over the
whole registry, request context in the matcher (print only from an approved terminal), local reason
codes, allows that name their basis, and file and line in every message."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bench.generator import Shape, generate_bundle
from gateway.cli import app
from gateway.decision.engine import decide
from gateway.decision.impact import impact
from gateway.decision.impact_report import change_kind
from gateway.decision.policy import PolicyError
from gateway.policy.coverage import check
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from models import DecisionRecord
from models.bundle import Bundle
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Clock, Gateway, Keys, running_gateway

runner = CliRunner()
EXAMPLE = POLICY_DIR / "examples" / "print-from-approved-terminal"
ROSTER_ROW = "p, deny, *, r.sub.known && r.obj.classified && !r.sub.on_roster, not_on_roster\n"
AT = "2026-06-01T12:00:00+09:00"


def _copy(tmp_path: Path, name: str, *, tests: bool = True) -> Path:
    target = tmp_path / name
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("examples", *([] if tests else ["tests"])))
    return target


def _edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def _with_printing(tmp_path: Path) -> Path:
    """The shipped policy plus the worked example, with the example's suite as its tests."""
    target = _copy(tmp_path, "printing", tests=False)
    shutil.copytree(EXAMPLE, target, dirs_exist_ok=True)
    return target


# --- 1. the reload gate and `policy apply` ------------------------------------------------------------


def test_a_reload_whose_policy_breaks_a_shipped_test_is_refused_and_the_last_good_keeps_serving(
    gateway: Gateway, tmp_path: Path
) -> None:
    gateway.import_bundle(rules_bundle())
    holder = gateway.container.policies
    holder.directory = live = _copy(tmp_path, "live")
    running = holder.current.version
    _edit(live, "clearance.csv", "g, sds, esi\n", "")  # closing the C6 bridge breaks clearance.yaml's bridge case
    response = gateway.client.post("/v1/admin/policy/reload", headers=gateway.keys.auth("policy:admin"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/policy-refused") and problem["title"] == "Policy refused"
    assert any(e["pointer"].startswith("/tests~1clearance.yaml/") for e in problem["errors"]), problem
    assert "expected allow, got deny clearance_insufficient" in json.dumps(problem)
    assert gateway.evaluate("P-SDS", "D-ESI", at=AT)["context"]["policy_version"] == running
    assert gateway.codes("P-SDS", "D-ESI", at=AT) == []  # the bridge still opens ESI
    info = gateway.client.get("/v1/admin/policy", headers=gateway.keys.auth("policy:admin")).json()
    assert info["version"] == running and "tests/clearance.yaml" in info["refused"]["problems"][0]
    metrics = gateway.client.get("/metrics").text
    assert 'clearance_gateway_policy_refused_total{cause="tests"}' in metrics


def test_policy_apply_refuses_a_candidate_that_fails_its_tests_and_swaps_one_that_passes(tmp_path: Path) -> None:
    live = _copy(tmp_path, "policy")
    before = (live / "clearance.csv").read_text()
    broken = _copy(tmp_path, "broken")
    _edit(broken, "clearance.csv", "g, sds, esi\n", "")
    refused = runner.invoke(app, ["policy", "apply", str(broken), "--to", str(live)])
    assert refused.exit_code == 1
    assert "tests/clearance.yaml:" in refused.output and "is unchanged" in refused.output
    assert (live / "clearance.csv").read_text() == before
    good = _copy(tmp_path, "good")
    (good / "clearance.csv").write_text((good / "clearance.csv").read_text() + "exempt, vice_minister, own, *\n")
    applied = runner.invoke(app, ["policy", "apply", str(good), "--to", str(live)])
    assert applied.exit_code == 0, applied.output
    assert "vice_minister" in (live / "clearance.csv").read_text()
    assert (tmp_path / "policy.previous" / "clearance.csv").read_text() == before  # to roll back with
    assert load_policy(live).version == load_policy(good).version


# --- 2. `policy diff` over the whole registry ---------------------------------------------------------


def test_diff_reports_the_widening_from_deleting_the_roster_rule_when_nobody_has_asked(
    gateway: Gateway, tmp_path: Path
) -> None:
    gateway.import_bundle(rules_bundle())  # and no decision logged yet
    candidate = _copy(tmp_path, "candidate")
    _edit(candidate, "requirements.csv", ROSTER_ROW, "")
    env = {"GATEWAY_DATABASE_URL": gateway.settings.database_url, "GATEWAY_POLICY_DIR": str(POLICY_DIR)}
    args = ["policy", "diff", "--candidate", str(candidate), "--at", AT, "--json", "--fail-on-widening"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 3, result.output
    report = json.loads(result.output)
    assert report["replay"]["replayed"] == 0  # the log alone would have said nothing
    widening = [c for c in report["registry"]["changes"] if c["kind"] == "widens"]
    assert widening and all(c["rules"] == ["not_on_roster removed (requirements.csv:25)"] for c in widening)
    assert widening[0]["was"] == {"decision": "deny", "reasons": ["not_on_roster"]}
    assert widening[0]["now"] == {"decision": "allow", "reasons": []}
    assert all(c["examples"] for c in widening)
    others = {c["kind"] for c in report["registry"]["changes"]} - {"widens"}
    assert others == {"reasons changed"}  # deny -> deny without not_on_roster is not a narrowing
    assert report["registry"]["widening"] == sum(c["count"] for c in widening)
    narrow = {**env, "COLUMNS": "80"}
    text = runner.invoke(app, ["policy", "diff", "--candidate", str(candidate), "--at", AT], env=narrow)
    assert "WIDENS ACCESS" in text.output and "grouped by rule" in text.output
    assert "  rule: not_on_roster removed (requirements.csv:25)" in text.output
    assert [line for line in text.output.splitlines() if len(line) > 80] == []  # readable at 80 columns


EDITS = [
    ("requirements.csv", ROSTER_ROW, ""),
    ("clearance.csv", "g, sds, esi\n", ""),
    ("clearance.csv", "p2, esi, 10, anniversary", "p2, esi, 1, anniversary"),
    ("clearance.csv", "exempt, minister_of_state, own, *\n", ""),
    ("clearance.csv", "exempt, head_of_organ, own, *", "exempt, head_of_organ, own, sds"),
    ("clearance.csv", "conflict, esi, strictest", "conflict, esi, own_result_stands"),
    ("requirements.csv", "!r.sub.contracted, contract", "!r.sub.contracted && !r.sub.on_roster, contract"),
]


@pytest.mark.parametrize(("name", "old", "new"), EDITS, ids=[e[1][:24] for e in EDITS])
def test_the_registry_diff_counts_exactly_what_deciding_every_triple_would(
    tmp_path: Path, name: str, old: str, new: str
) -> None:
    today = date(2026, 6, 1)
    raw = generate_bundle(Shape(persons=60, designations=12, operators=6, unclassified_documents=3), today, seed=3)
    organs = [o["id"] for o in raw["organs"]]
    raw["provisions"] = [  # C5a: some designations provided to every other organ, one provision ended
        {"designation_id": d["id"], "organ_id": o, "from": "2026-01-01", "until": None if i else "2026-03-31"}
        for i, d in enumerate(raw["designations"][:6])
        for o in organs
        if o != d["organ_id"]
    ]
    snapshot = snapshot_from_bundle(Bundle.model_validate(raw))
    assert snapshot.provisions
    before, candidate = load_policy(POLICY_DIR), _copy(tmp_path, "candidate", tests=False)
    _edit(candidate, name, old, new)
    after = load_policy(candidate)
    report = impact(snapshot, before, after, today)
    brute: Counter[tuple[object, ...]] = Counter()
    for person in snapshot.persons:
        for document in snapshot.documents:
            facts = snapshot.facts(person, document)
            was, now = decide(facts, "read", today, before), decide(facts, "read", today, after)
            if change_kind((was.allowed, was.codes), (now.allowed, now.codes)):
                brute[((was.allowed, was.codes), (now.allowed, now.codes))] += 1
    assert Counter({(c.was, c.now): c.count for c in report.changes.values()}) == brute
    for change in report.changes.values():
        for person, document in change.examples:  # every example shown is the real decision
            now = decide(snapshot.facts(person, document), "read", today, after)
            assert (now.allowed, now.codes) == change.now


# --- 3. file and line in every message ----------------------------------------------------------------


def test_check_and_load_messages_name_a_real_line(tmp_path: Path) -> None:
    policy = _copy(tmp_path, "policy")
    path = policy / "requirements.csv"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "clearance_revoked" not in line))
    report = check(policy)
    missing = [w for w in report.warnings if "clearance_revoked" in w.message]
    assert missing and all(w.line > 0 for w in report.warnings), report.warnings
    _edit(policy, "model.conf", "r = sub, obj, act, ctx, probe", "r = sub, obj, act")
    with pytest.raises(PolicyError) as refused:
        load_policy(policy)
    lines = (policy / "model.conf").read_text().splitlines()
    [problem] = refused.value.problems
    assert lines[problem.line - 1].startswith("r = ")


def test_a_local_reason_code_must_be_declared(tmp_path: Path) -> None:
    policy = _with_printing(tmp_path)
    _edit(policy, "printing.csv", "reason, local:terminal_not_approved,", "reason, local:terminal_approved,")
    with pytest.raises(PolicyError) as refused:
        load_policy(policy)
    assert any(
        str(p).startswith("printing.csv:7:") and "'local:terminal_not_approved' is not declared" in str(p)
        for p in refused.value.problems
    )


def test_policy_show_says_in_words_what_is_required_local_rows_included(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "show", str(_with_printing(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "requirements.csv:25  denies every action with not_on_roster when" in result.output
    assert "not person.on_roster" in result.output
    assert "printing.csv:6  local reason local:terminal_not_approved: Printing is allowed only from" in result.output
    assert "context.csv:4  request.terminal (string): context.terminal, header X-Terminal-Id" in result.output


# --- 4 and 5. request context (print from an approved terminal) and allows that explain themselves ----


@pytest.fixture
def printing(db_url: str, tmp_path: Path, keys: Keys) -> Iterator[Gateway]:
    with running_gateway(db_url, tmp_path, keys, Clock(), policy_dir=_with_printing(tmp_path)) as gw:
        gw.import_bundle(rules_bundle())
        yield gw


def _ask(gw: Gateway, action: str, context: dict[str, object] | None = None) -> dict[str, object]:
    body = {
        "subject": {"type": "person", "id": "P-OK"},
        "resource": {"type": "document", "id": "D-ESI"},
        "action": {"name": action},
        **({"context": context} if context is not None else {}),
    }
    response = gw.client.post("/access/v1/evaluation", json=body, headers=gw.keys.auth("authz:evaluate"))
    assert response.status_code in (200, 400), response.text
    return {"status": response.status_code, **response.json()}


def _logged(gw: Gateway, decision_id: str) -> dict[str, object]:
    with gw.container.engine.connect() as conn:
        row = conn.execute(select(DecisionRecord.__table__).where(DecisionRecord.decision_id == decision_id)).one()
    return dict(row._mapping)


def test_print_is_decided_from_the_terminal_in_the_evaluation_context(printing: Gateway) -> None:
    allowed = _ask(printing, "print", {"terminal": "T-0101"})
    assert allowed["decision"] is True
    assert _logged(printing, allowed["context"]["decision_id"])["facts"]["context"] == {"terminal": "T-0101"}
    for context in ({"terminal": "T-9999"}, None):
        denied = _ask(printing, "print", context)
        assert denied["decision"] is False
        assert denied["context"]["reasons"] == [
            {
                "code": "local:terminal_not_approved",
                "message": "Printing is allowed only from a terminal the policy lists as approved",
            }
        ]
    wrong = _ask(printing, "print", {"terminal": 101})
    assert wrong["status"] == 400 and wrong["errors"][0]["pointer"] == "/context/terminal"
    assert _ask(printing, "read")["decision"] is True  # reading needs no terminal


def test_print_is_decided_from_the_terminal_header_at_release(printing: Gateway) -> None:
    def release(**headers: str):  # type: ignore[no-untyped-def]
        auth = printing.keys.auth("documents:read", sub="P-OK")
        return printing.client.get("/v1/documents/D-ESI/content?action=print", headers=auth | headers)

    approved = release(**{"X-Terminal-Id": "T-0102"})
    assert approved.status_code == 200 and approved.content == b"G-ESI"
    logged = _logged(printing, approved.headers["X-Decision-Id"])
    assert logged["action"] == "print" and logged["facts"]["context"] == {"terminal": "T-0102"}
    for headers in ({"X-Terminal-Id": "T-9999"}, {}):
        denied = release(**headers)
        assert denied.status_code == 403 and b"G-ESI" not in denied.content
        assert _logged(printing, denied.headers["X-Decision-Id"])["reason_codes"] == "local:terminal_not_approved"


def test_an_allow_names_its_basis_with_the_fact_ids_the_log_keeps(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    for person, expected in (("P-OK", {"clearance": "A-OK", "roster": "G-ESI/P-OK"}), ("C-OK", {"contract": "K-ACME"})):
        answer = gateway.evaluate(person, "D-ESI", at=AT)
        assert answer["decision"] is True
        basis = answer["context"]["basis"]
        assert expected.items() <= basis.items() and basis["designation"] == "G-ESI"
        logged = _logged(gateway, answer["context"]["decision_id"])["facts"]
        assert {k: v for k, v in logged.items() if k != "registry_version"} == basis
    assert "basis" not in gateway.evaluate("P-NOROSTER", "D-ESI", at=AT)["context"]


def test_policy_eval_answers_one_question_offline_with_the_full_explanation(tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps(rules_bundle()))
    args = ["policy", "eval", "P-OK", "D-ESI", "--registry", str(registry), "--at", AT]
    allowed = runner.invoke(app, [*args, "--policy", str(POLICY_DIR)])
    assert allowed.exit_code == 0, allowed.output
    assert "ALLOW P-OK read D-ESI on 2026-06-01" in allowed.output and "clearance A-OK" in allowed.output
    denied = runner.invoke(app, [*args, "--action", "print", "--policy", str(_with_printing(tmp_path))])
    assert "DENY" in denied.output and "local:terminal_not_approved: Printing is allowed only" in denied.output
    assert "denied by printing.csv:7" in denied.output and "r.ctx: channel='evaluation', terminal=None" in denied.output
    again = _with_printing(tmp_path / "again")
    printed = runner.invoke(app, [*args, "--action", "print", "--context", "terminal=T-0101", "--policy", str(again)])
    assert "ALLOW" in printed.output, printed.output
