"""`policy diff` (what a candidate changes, over the whole registry and over the logged decisions) and
`policy eval` (one question, offline, with the full explanation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
RegistryOpt = Annotated[
    Path | None,
    typer.Option("--registry", help="a registry bundle file (JSON or YAML) instead of the database", exists=True),
]
AtOpt = Annotated[
    datetime | None,
    typer.Option(
        "--at",
        help="the instant, with its offset (default: now); a past instant is decided on the database's registry "
        "as it stood then (statuses, versions and roster entries in force at that instant)",
    ),
]
ContextOpt = Annotated[
    list[str] | None, typer.Option("--context", help="a declared context attribute, NAME=VALUE (repeatable)")
]


def load_or_exit(directory: Path):
    from gateway.decision.policy import PolicyError
    from gateway.policy.files import load_policy

    try:
        return load_policy(directory)
    except PolicyError as exc:
        err.print(f"[red]The policy in {directory} is refused:[/]")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from exc


def _day(at: datetime | None, settings: Settings):
    from gateway.decision.calendar import local_day

    if at is not None and at.tzinfo is None:
        err.print("[red]--at needs an offset, e.g. 2026-06-01T12:00:00+09:00[/]")
        raise typer.Exit(2)
    return local_day(at or datetime.now(UTC), settings.zone)


def _snapshot(registry: Path | None, settings: Settings):
    """The registry, from a bundle file or (read-only) from the database."""
    if registry is not None:
        import yaml

        from gateway.registry.loading import snapshot_from_bundle
        from models.bundle import Bundle

        data = yaml.load(registry.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        for document in data.get("documents", []):
            document.setdefault("content_base64", "")
        return snapshot_from_bundle(Bundle.model_validate(data))
    from gateway.db import READ_ONLY, make_engine
    from gateway.registry.loading import load_snapshot

    engine = make_engine(settings)
    try:
        with engine.connect().execution_options(**READ_ONLY) as conn:
            return load_snapshot(conn)
    finally:
        engine.dispose()


def _context(policy: Any, channel: str, pairs: list[str] | None):
    from gateway.decision.policy_context import context_problems, from_headers, request_context

    given: dict[str, str] = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        if name not in policy.context:
            err.print(f"[red]{name!r} is not a context attribute the policy declares ({', '.join(policy.context)})[/]")
            raise typer.Exit(2)
        given[name] = value
    typed = from_headers(policy.context, {policy.context[n].header or n: v for n, v in given.items()})
    typed |= {n: v for n, v in given.items() if policy.context[n].header is None}
    for name, problem in context_problems(policy.context, typed).items():
        err.print(f"[red]--context {name}: {problem}[/]")
        raise typer.Exit(2)
    return request_context(policy.context, channel, typed)


def diff_command(
    candidate: Annotated[
        Path, typer.Option(help="folder with the candidate model.conf and *.csv", exists=True, file_okay=False)
    ],
    current: Annotated[
        Path | None, typer.Option(help="the running policy's folder (default: GATEWAY_POLICY_DIR)", file_okay=False)
    ] = None,
    at: AtOpt = None,
    registry: RegistryOpt = None,
    context: ContextOpt = None,
    since: Annotated[datetime | None, typer.Option(help="replay decisions logged from this instant (ISO 8601)")] = None,
    until: Annotated[datetime | None, typer.Option(help="... up to this instant")] = None,
    simulations: Annotated[bool, typer.Option(help="include simulated decisions")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
    fail_on_widening: Annotated[bool, typer.Option(help="exit 3 if any decision would widen access")] = False,
) -> None:
    """What CANDIDATE changes: every (person, document, action) of the registry at an instant under
    both policies, then the logged decisions replayed (their recorded facts and instant)."""
    from gateway.cli_policy_replay import print_replay, replay_logged
    from gateway.decision.impact import impact

    settings = Settings()
    before, after = load_or_exit(current or settings.policy_dir), load_or_exit(candidate)
    day = _day(at, settings)
    ctx = _context(after, "evaluation", context)
    snapshot = _snapshot(registry, settings)
    if at is not None:
        from gateway.registry.past import registry_at

        snapshot = registry_at(snapshot, at)
    designations = len({d.designation_id for d in snapshot.documents.values()})
    columns = (TextColumn("registry"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("registry", total=designations)
        report = impact(snapshot, before, after, day, ctx, lambda n: progress.advance(task, n))
    replayed = None if registry is not None else replay_logged(after, settings, since, until, simulations, err)
    if as_json:
        body = {
            "registry": {
                "day": day.isoformat(),
                "persons": report.persons,
                "documents": report.documents,
                "actions": list(report.actions),
                "decisions": report.decisions,
                "widening": report.widening,
                "changes": [c.as_dict(before, after) for c in report.sorted()],
            },
            "replay": replayed.as_dict() if replayed is not None else None,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_registry(report, before, after)
        if replayed is not None:
            print_replay(replayed, after.version, out)
    if fail_on_widening and (report.widening or (replayed is not None and replayed.widening)):
        raise typer.Exit(3)


def _print_registry(report: Any, before: Any, after: Any) -> None:
    """Readable at 80 columns: one line a group (kind, action, count, the rule behind it), its examples
    indented below, ids never wrapped."""
    changed = sum(c.count for c in report.changes.values())
    actions = len(report.actions)
    out.print(
        f"Over the whole registry on {report.day}: {report.persons:,} persons x {report.documents:,} documents"
        f" x {_count(actions, 'action')}\n  = {_count(report.decisions, 'decision')}, {changed:,} would change",
        highlight=False,
    )
    if not report.changes:
        return
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for change in report.sorted():
        groups.setdefault((change.kind, change.action, "; ".join(change.rules(before, after))), []).append(change)
    out.print("\nChanges grouped by rule (--json: every was/now pair):", highlight=False)
    for (kind, action, rule), changes in groups.items():
        label = {"widens": "[bold red]WIDENS ACCESS[/]", "narrows": "narrows"}.get(kind, kind)
        out.print(f"\n{label}  {action}  {_count(sum(c.count for c in changes), 'decision')}", highlight=False)
        out.print(f"  rule: {rule}", markup=False, highlight=False)
        for c in changes[:3]:
            for p, d in c.examples[:1]:
                example = f"  e.g. {p} on {d}\n       was {_outcome(c.was)}\n       now {_outcome(c.now)}"
                out.print(example, markup=False, highlight=False)
    if report.widening:
        out.print(f"\n[bold red]{report.widening:,} decisions over the registry would WIDEN access.[/]")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _outcome(outcome: tuple[bool, tuple[str, ...]]) -> str:
    return "allow" if outcome[0] else "deny " + ", ".join(outcome[1])


def eval_command(
    person: Annotated[str, typer.Argument(help="the person's id")],
    document: Annotated[str, typer.Argument(help="the document's id")],
    action: Annotated[str, typer.Option(help="the action")] = "read",
    at: AtOpt = None,
    registry: RegistryOpt = None,
    context: ContextOpt = None,
    channel: Annotated[str, typer.Option(help="evaluation or release (r.ctx.channel)")] = "evaluation",
    policy_dir: Annotated[Path | None, typer.Option("--policy", help="policy folder (default: GATEWAY_POLICY_DIR)")] = (
        None
    ),
) -> None:
    """Answer one question offline, against a registry bundle or the database, and explain it in full."""
    from gateway.decision.engine import classify, decide

    settings = Settings()
    policy = load_or_exit(policy_dir or settings.policy_dir)
    day = _day(at, settings)
    ctx = _context(policy, channel, context)
    facts = _snapshot(registry, settings).facts(person, document, at)
    decision = decide(facts, action, day, policy, ctx)
    sub, obj, _ = classify(facts, day, policy)
    verdict = "[green]ALLOW[/]" if decision.allowed else "[red]DENY[/]"
    out.print(f"{verdict} {person} {action} {document} on {day} under {policy.version[:19]}…")
    if decision.allowed:
        out.print("Rested on: " + ", ".join(f"{k} {v}" for k, v in decision.basis.items()), highlight=False)
    for reason in decision.reasons:
        out.print(f"  {reason.code}: {reason.message}", markup=False, highlight=False)
    out.print("What the policy saw:", highlight=False)
    for name, values in (("r.sub", sub._asdict()), ("r.obj", obj._asdict()), ("r.ctx", ctx._asdict())):
        out.print(f"  {name}: " + ", ".join(f"{k}={v!r}" for k, v in values.items()), markup=False, highlight=False)
    for row in policy.rows:
        if row.ptype == "p" and row.values[3] in decision.codes:
            out.print(f"  denied by {row.file}:{row.line}: {', '.join(row.values)}", markup=False, highlight=False)
    out.print("Facts used: " + json.dumps(decision.facts_used), markup=False, highlight=False)
