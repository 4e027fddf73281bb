"""`python -m bench --search`: AuthZEN search, access reviews and past instants on a large registry (#18).

In this process, on a generated registry (default 100,000 persons, 10,000 designations) held as the
gateway holds it (a RegistrySnapshot) with a synthetic history (status changes and roster changes
recorded over the last month), one designation given 1,000 roster entries:

  S1 index           the look-ups a search builds once per snapshot (sorted persons, rosters both ways,
                     documents by designation): paid by the first search after each registry change
  S2 subject search  every person who may read one document, over --search-samples documents
  S3 resource search every document one person may read, over --search-samples persons
  S4 big designation subject search on the document of the designation with 1,000 roster entries
  S5 access review   that designation's review (who may, who may not, losses within 30 and 365 days)
  S6 past instants   decisions at an instant before the history's changes against decisions now, on
                     the same pairs: the full path (facts, then the engine) and the memoized path
  S7 pages           that designation's subject search walked 50 a page while roster entries are
                     removed and clearances suspended between pages: every page is decided at the
                     first page's instant, so the pages must join into that instant's whole result
  S8 without the roster bound  S2 under a policy with the roster row removed: every person decided

Aims (#18): S2 and S3 p50 <= 50 ms, S5 <= 200 ms, S6 within 20%, S7 no duplicate and no gap.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from bench.config import RESULTS
from bench.generator import Shape, generate_bundle
from gateway.access_review import Reviewer
from gateway.decision.engine import decide
from gateway.decision.policy import Policy
from gateway.policy.files import load_policy
from gateway.registry.history import History
from gateway.registry.loading import snapshot_from_bundle
from gateway.registry.snapshot import RegistrySnapshot
from gateway.search import Finder, SearchQuery
from gateway.service_memo import DecisionMemo
from models.bundle import Bundle

ZONE = ZoneInfo("Asia/Tokyo")
POLICY = Path(__file__).resolve().parents[1] / "policy"
BIG_ROSTER = 1000


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1e3, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3, 3),
        "max_ms": round(ordered[-1] * 1e3, 3),
    }


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _registry(persons: int, designations: int, now: datetime, say: Callable[[str], None]) -> RegistrySnapshot:
    today = now.astimezone(ZONE).date()
    say(f"generating {persons:,} persons and {designations:,} designations")
    bundle = generate_bundle(Shape.for_persons(persons, designations), today)
    # One designation in force with 1,000 roster entries: staff of its organ, most of them cleared.
    big = next(d for d in bundle["designations"] if "cancelled_on" not in d and d["designated_on"] <= str(today)
               and d["expires_on"] > str(today + timedelta(days=400)))  # fmt: skip
    staff = [p["id"] for p in bundle["persons"] if p.get("organ_id") == big["organ_id"]]
    listed = {r["person_id"] for r in bundle["rosters"] if r["designation_id"] == big["id"]}
    rng = random.Random(18)
    extra = [p for p in rng.sample(staff, min(len(staff), BIG_ROSTER * 2)) if p not in listed][
        : BIG_ROSTER - len(listed)
    ]
    start = (today - timedelta(days=200)).isoformat()
    bundle["rosters"] += [{"designation_id": big["id"], "person_id": p, "from": start, "until": None} for p in extra]
    say("indexing the registry as the gateway does (snapshot)")
    snapshot = snapshot_from_bundle(Bundle.model_validate(bundle))
    return replace(snapshot, history=_history(snapshot, now, rng))


def _history(snapshot: RegistrySnapshot, now: datetime, rng: random.Random) -> History:
    """A month of recorded changes: 5% of the assessments suspended and 5% of the roster entries added,
    at instants spread over the last 30 days."""
    statuses: dict[tuple[str, str], tuple[tuple[datetime, str], ...]] = {}
    versions: dict[tuple[str, str], tuple[tuple[datetime, Any], ...]] = {}
    for kept in snapshot.assessments.values():
        for a in kept:
            if rng.random() < 0.05:
                since = datetime(a.notified_on.year, a.notified_on.month, a.notified_on.day, tzinfo=UTC)
                statuses[("assessment", a.id)] = (
                    (since, "active"),
                    (now - timedelta(days=rng.uniform(0, 30)), a.status),
                )
    for designation, person in snapshot.roster:
        if rng.random() < 0.05:
            versions[("roster_entry", f"{designation}/{person}")] = ((now - timedelta(days=rng.uniform(0, 30)), None),)
    return History.of(statuses, versions)


def _loose_policy() -> Policy:
    folder = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    try:
        shutil.copytree(POLICY, folder / "p", ignore=shutil.ignore_patterns("tests", "examples"))
        requirements = folder / "p" / "requirements.csv"
        rows = [line for line in requirements.read_text().splitlines() if "not_on_roster" not in line]
        requirements.write_text("\n".join(rows) + "\n")
        return load_policy(folder / "p")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_search_bench(persons: int, designations: int, samples: int, say: Callable[[str], None]) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    snapshot = _registry(persons, designations, now, say)
    policy = load_policy(POLICY)
    finder = Finder(ZONE)
    rng = random.Random(7)
    results: dict[str, Any] = {"persons": len(snapshot.persons), "designations": len(snapshot.designations),
                               "documents": len(snapshot.documents), "roster_entries": len(snapshot.roster),
                               "recorded_changes": len(snapshot.history.instants)}  # fmt: skip
    gc.collect()
    gc.freeze()  # as the gateway does after reading a snapshot

    say("S1: building the search look-ups")
    elapsed, index = _timed(lambda: finder.index(snapshot))
    elapsed += _timed(lambda: (index.persons, index.roster_persons(""), index.documents))[0]
    results["index_ms"] = round(elapsed * 1e3, 1)

    def subject(document: str, at: datetime | None = None, pol: Policy = policy, after: str | None = None) -> list[str]:
        query = SearchQuery("subject", "person", None, "document", document, "read", None, at)
        return list(finder.allowed(snapshot, pol, query, at, at or now, after))

    def resource(person: str) -> list[str]:
        query = SearchQuery("resource", "person", person, "document", None, "read", None, None)
        return list(finder.allowed(snapshot, policy, query, None, now))

    classified = sorted(d.id for d in snapshot.documents.values() if d.designation_id)
    documents = rng.sample(classified, min(samples, len(classified)))
    people = rng.sample(sorted(snapshot.persons), min(samples, len(snapshot.persons)))
    subject(documents[0])  # the policy's roster bound, checked once per policy version
    say(f"S2: subject search on {len(documents)} documents")
    timed = [_timed(lambda d=d: subject(d)) for d in documents]
    results["subject_search"] = {
        **_ms([t for t, _ in timed]),
        "mean_results": statistics.mean(len(r) for _, r in timed),
    }
    say(f"S3: resource search for {len(people)} persons")
    timed = [_timed(lambda p=p: resource(p)) for p in people]
    results["resource_search"] = {
        **_ms([t for t, _ in timed]),
        "mean_results": statistics.mean(len(r) for _, r in timed),
    }

    big = max(snapshot.designations, key=lambda d: len(index.roster_persons(d)))
    big_document = index.documents[big][0]
    say(f"S4, S5: designation {big} with {len(index.roster_persons(big)):,} roster entries")
    timed = [_timed(lambda: subject(big_document)) for _ in range(20)]
    results["big_subject_search"] = {**_ms([t for t, _ in timed]), "results": len(timed[0][1]),
                                     "roster_entries": len(index.roster_persons(big))}  # fmt: skip
    reviewer = Reviewer(finder)
    for window in (30, 365):

        def one(w: int = window) -> Any:
            return reviewer.review(snapshot, policy, now, present=True, designation_id=big, within_days=w)

        timed = [_timed(one) for _ in range(10)]
        review = timed[0][1]
        results[f"review_{window}d"] = {**_ms([t for t, _ in timed]), "may_read": len(review.may_read),
                                        "may_not": len(review.may_not), "losing": len(review.losing)}  # fmt: skip

    say("S6: decisions at a past instant against now")
    pairs = [
        (p, index.documents[d][0]) for d, p in rng.sample(sorted(snapshot.roster), 20_000) if index.documents.get(d)
    ]
    past = now - timedelta(days=31)  # before every recorded change: every changed record is rewound
    day_now, day_past = now.astimezone(ZONE).date(), past.astimezone(ZONE).date()
    # Each twice, in turn: the first pass also meets attribute vectors the policy has not answered yet.
    decisions = DecisionMemo()  # the service's memo, as it serves
    rounds = (
        ("now", None, day_now),
        ("past", past, day_past),
        ("now_again", None, day_now),
        ("past_again", past, day_past),
    )
    for label, at, day in rounds:
        started = time.perf_counter()
        for p, d in pairs:
            decide(snapshot.facts(p, d, at), "read", day, policy)
        full = (time.perf_counter() - started) / len(pairs)
        for p, d in pairs:  # warm the memo, then time it
            decisions.decide(snapshot, p, d, "read", day, policy, at=at)
        started = time.perf_counter()
        for p, d in pairs:
            decisions.decide(snapshot, p, d, "read", day, policy, at=at)
        memo = (time.perf_counter() - started) / len(pairs)
        results[f"decide_{label}"] = {"full_us": round(full * 1e6, 2), "memoized_us": round(memo * 1e6, 3)}
    past_again, now_again = results["decide_past_again"], results["decide_now_again"]
    results["past_over_now_full"] = round(past_again["full_us"] / now_again["full_us"], 3)
    results["past_over_now_memoized"] = round(past_again["memoized_us"] / now_again["memoized_us"], 3)

    say("S7: pages under concurrent changes")
    results["pages"] = _pages(snapshot, policy, finder, big_document, now, rng)

    say("S8: subject search without the roster bound (every person decided)")
    loose = _loose_policy()
    subject(documents[0], pol=loose)
    timed = [_timed(lambda d=d: subject(d, pol=loose)) for d in documents[:10]]
    results["subject_search_unbounded"] = _ms([t for t, _ in timed])
    gc.unfreeze()
    return results


def _pages(
    snapshot: RegistrySnapshot, policy: Policy, finder: Finder, document: str, now: datetime, rng: random.Random
) -> dict[str, Any]:
    """Walk one subject search 50 a page at the first page's instant while, between pages, roster
    entries are removed and clearances suspended (recorded after that instant, as the registry does)."""
    pinned = now
    query = SearchQuery("subject", "person", None, "document", document, "read", None, None)
    whole = list(finder.allowed(snapshot, policy, query, pinned, pinned))
    seen: list[str] = []
    after: str | None = None
    current, changed = snapshot, 0
    while True:
        page = []
        for result in finder.allowed(current, policy, query, pinned, pinned, after):
            page.append(result)
            if len(page) == 50:
                break
        if not page:
            break
        seen += page
        after = page[-1]
        current, moved = _change(current, document, now + timedelta(seconds=len(seen)), rng)
        changed += moved
    return {
        "whole": len(whole),
        "paged": len(seen),
        "duplicates": len(seen) - len(set(seen)),
        "gaps": len(set(whole) - set(seen)),
        "extra": len(set(seen) - set(whole)),
        "changes_between_pages": changed,
    }


def _change(
    snapshot: RegistrySnapshot, document: str, at: datetime, rng: random.Random
) -> tuple[RegistrySnapshot, int]:
    """Three roster entries of the document's designation removed, and three of their holders'
    assessments suspended, recorded at `at`: a new snapshot, as the patcher would make."""
    designation = snapshot.documents[document].designation_id
    holders = [p for d, p in snapshot.roster if d == designation]
    removed = rng.sample(holders, min(3, len(holders)))
    roster = {k: v for k, v in snapshot.roster.items() if not (k[0] == designation and k[1] in removed)}
    versions = dict(snapshot.history.versions)
    for person in removed:
        versions[("roster_entry", f"{designation}/{person}")] = ((at, snapshot.roster[(designation, person)]),)
    statuses = dict(snapshot.history.statuses)
    assessments = dict(snapshot.assessments)
    for person in removed:
        kept = assessments.get(person, ())
        if kept:
            a = kept[0]
            since = datetime(a.notified_on.year, a.notified_on.month, a.notified_on.day, tzinfo=UTC)
            statuses[("assessment", a.id)] = ((since, a.status), (at, "suspended"))
            assessments[person] = (replace(a, status="suspended"), *kept[1:])
    history = History.of(statuses, versions)
    return replace(snapshot, roster=roster, assessments=assessments, history=history), len(removed) * 2


AIMS = (
    ("subject search p50 (S2)", lambda r: r["subject_search"]["p50_ms"], "ms", 50.0),
    ("resource search p50 (S3)", lambda r: r["resource_search"]["p50_ms"], "ms", 50.0),
    ("access review, 1,000 roster entries, 30 days (S5)", lambda r: r["review_30d"]["p50_ms"], "ms", 200.0),
    ("past instant / now, full path (S6)", lambda r: r["past_over_now_full"], "×", 1.2),
    ("past instant / now, memoized (S6)", lambda r: r["past_over_now_memoized"], "×", 1.2),
    ("pages: duplicates + gaps (S7)", lambda r: r["pages"]["duplicates"] + r["pages"]["gaps"], "", 0.0),
)


def print_search(results: dict[str, Any], console: Console) -> None:
    r = results
    console.print(
        f"registry: {r['persons']:,} persons, {r['designations']:,} designations, {r['documents']:,} documents, "
        f"{r['roster_entries']:,} roster entries, {r['recorded_changes']:,} recorded changes"
    )
    table = Table(title="Search, access reviews, past instants (python -m bench --search)")
    for column in ("measurement", "p50", "p99", "results"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_row("S1 search look-ups, built once per snapshot", f"{r['index_ms']:,} ms", "", "")
    for key, label in (("subject_search", "S2 subject search, one document"),
                       ("resource_search", "S3 resource search, one person"),
                       ("big_subject_search", "S4 subject search, 1,000-entry roster"),
                       ("review_30d", "S5 access review, losses within 30 days"),
                       ("review_365d", "S5 access review, losses within 365 days"),
                       ("subject_search_unbounded", "S8 subject search, no roster bound")):  # fmt: skip
        m = r[key]
        found = m.get("mean_results", m.get("results", m.get("may_read", "")))
        table.add_row(label, f"{m['p50_ms']:,} ms", f"{m['p99_ms']:,} ms", f"{found:,.1f}" if found != "" else "")
    for label in ("now", "past", "now_again", "past_again"):
        m = r[f"decide_{label}"]
        table.add_row(
            f"S6 decision at {label.replace('_', ' ')}: full / memoized",
            f"{m['full_us']} / {m['memoized_us']} µs",
            "",
            "",
        )
    p = r["pages"]
    table.add_row("S7 pages under changes: paged / whole", f"{p['paged']} / {p['whole']}", "",
                  f"{p['duplicates']} dup, {p['gaps']} gaps")  # fmt: skip
    console.print(table)
    aims = Table(title="Aims of #18")
    for column in ("aim", "value", "goal", "met"):
        aims.add_column(column)
    for label, value, unit, bound in AIMS:
        v = value(r)
        met = v <= bound
        shown = f"{v:,}{' ' + unit if unit not in ('', '×') else unit}"
        goal = f"≤ {bound:g}{unit if unit == '×' else ' ' + unit if unit else ''}"
        aims.add_row(label, shown, goal, "[green]yes[/]" if met else "[red]no[/]")
    console.print(aims)


def main(args: list[str], console: Console, progress: Console) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--search", action="store_true", required=True)
    parser.add_argument("--search-persons", type=int, default=100_000, metavar="N")
    parser.add_argument("--search-designations", type=int, default=10_000, metavar="N")
    parser.add_argument("--search-samples", type=int, default=200, metavar="N", help="documents and persons searched")
    options = parser.parse_args(args)
    started = datetime.now(UTC)
    results = run_search_bench(
        options.search_persons,
        options.search_designations,
        options.search_samples,
        lambda message: progress.print(f"[dim]bench:[/] {message}"),
    )
    results = {"started_at": started.isoformat(), "command": "python -m bench " + " ".join(args), **results}
    path = RESULTS / f"search-{started.strftime('%Y-%m-%dT%H%M%S')}Z.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print_search(results, console)
    console.print(f"results written to {path}")
    return 0
