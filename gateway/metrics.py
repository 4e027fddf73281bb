"""Prometheus metrics, served at /metrics.

Two kinds. Counters and histograms that requests move (decisions, reasons, latencies, log writes)
are prometheus-client metrics; with `serve --workers N` they are summed over the workers through
prometheus-client's multiprocess mode (`serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder).
State a process holds (its registry snapshot, its policy, its cache counters, its listener) is read
when scraped, from the process that answers the scrape, so the hot path pays nothing for it. One
worker per container, scaled by replicas, gives every figure per replica.

Labels are bounded: routes are route templates (never raw paths), reason codes come from the policy,
and nothing a caller sends becomes a label.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from gateway.container import Container

PREFIX = "clearance_gateway"
_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

DECISIONS = Counter(
    f"{PREFIX}_decisions_total", "Decisions made and logged, by result and channel", ["result", "channel"]
)
SEARCHES = Counter(f"{PREFIX}_searches_total", "AuthZEN searches answered and logged, by kind", ["kind"])
DENIAL_REASONS = Counter(f"{PREFIX}_denial_reasons_total", "Reason codes given in denials", ["code"])
UNAVAILABLE = Counter(
    f"{PREFIX}_unavailable_total", "Requests answered 503 because a dependency failed (fail closed)", ["what"]
)
POLICY_REFUSED = Counter(
    f"{PREFIX}_policy_refused_total",
    "Policy reloads refused (the last good policy kept serving), by cause: invalid files or failing tests",
    ["cause"],
)
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP requests, from the first byte in to the last byte out",
    ["method", "route", "status"],
    buckets=_FAST,
)
DECIDE_SECONDS = Histogram(
    f"{PREFIX}_decide_seconds", "Deciding one request's questions, before the log write", buckets=_FAST
)
LOG_WAIT_SECONDS = Histogram(
    f"{PREFIX}_log_write_seconds", "A request's wait for its decisions to be durably logged", buckets=_FAST
)
LOG_COMMIT_SECONDS = Histogram(
    f"{PREFIX}_log_commit_seconds", "One group commit of the decision log: chain, insert, commit", buckets=_FAST
)
LOG_COMMIT_ROWS = Histogram(
    f"{PREFIX}_log_commit_rows",
    "Decision-log rows per group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)


_CHILDREN: dict[tuple[Any, ...], Any] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: prometheus_client takes a lock and builds a key on every
    call, and the request path moves several labelled metrics a request. Label values here come from
    closed sets (routes, methods, statuses, channels, reason codes), so the memory stays bounded."""
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def count_decisions(channel: str, results: Iterable[tuple[bool, Iterable[str]]]) -> None:
    """One call per request: tallied first, so a batch of 1,000 moves a few counters, not 1,000."""
    allowed = denied = 0
    codes: Tally[str] = Tally()
    for ok, reasons in results:
        if ok:
            allowed += 1
        else:
            denied += 1
            codes.update(reasons)
    if allowed:
        labelled(DECISIONS, "allow", channel).inc(allowed)
    if denied:
        labelled(DECISIONS, "deny", channel).inc(denied)
    for code, count in codes.items():
        labelled(DENIAL_REASONS, code).inc(count)


class ProcessState:
    """What one gateway process holds, read at scrape time."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def describe(self) -> list[Metric]:
        return []  # collected lazily: the container may not be serving yet when registered

    def collect(self) -> Iterator[Metric]:
        c = self.container
        resolver, policy, log, listener = c.resolver, c.policies.current, c.decisions.log.stats(), c.listener
        pid = [str(os.getpid())]
        info = GaugeMetricFamily(f"{PREFIX}_policy_info", "The running policy (value 1)", labels=["pid", "version"])
        info.add_metric([*pid, policy.version], 1)
        yield info
        for family, name, doc, value in (
            (
                GaugeMetricFamily,
                "policy_loaded_timestamp_seconds",
                "When the running policy was loaded",
                policy.loaded_at.timestamp(),
            ),
            (
                CounterMetricFamily,
                "policy_uncached_evaluations",
                "Policy evaluations that ran Casbin (memo misses)",
                policy.misses,
            ),
            (
                GaugeMetricFamily,
                "policy_memo_entries",
                "Attribute vectors the running policy has memoized",
                policy.memo_entries,
            ),
            (
                GaugeMetricFamily,
                "decision_memo_entries",
                "Decisions kept for the current registry snapshot, answered again without evaluating",
                c.decisions.memo.stats()["entries"],
            ),
            (
                GaugeMetricFamily,
                "registry_version",
                "The registry version (change-chain head) of the snapshot",
                resolver.version,
            ),
            (
                CounterMetricFamily,
                "registry_cache_hits",
                "Decisions answered from the snapshot without a version read",
                resolver.hits,
            ),
            (CounterMetricFamily, "registry_cache_checks", "Version reads before a decision", resolver.checks),
            (CounterMetricFamily, "registry_rebuilds", "Snapshot rebuilds after the registry moved", resolver.rebuilds),
            (
                CounterMetricFamily,
                "registry_patches",
                "Of those, patched from the change events alone",
                resolver.patches,
            ),
            (
                GaugeMetricFamily,
                "registry_last_rebuild_seconds",
                "Time the last snapshot rebuild took",
                resolver.last_rebuild_seconds,
            ),
            (
                GaugeMetricFamily,
                "change_listener_up",
                "1 while a LISTEN connection receives change notifications",
                int(resolver.listening),
            ),
            (
                CounterMetricFamily,
                "change_notifications",
                "Change notifications received",
                listener.notifications if listener else 0,
            ),
            (CounterMetricFamily, "log_commits", "Group commits of the decision log", log.commits),
            (CounterMetricFamily, "log_rows_committed", "Decision-log rows committed", log.rows_committed),
            (
                GaugeMetricFamily,
                "log_queue_rows",
                "Decision-log rows handed to the writer, not yet committed",
                log.queued_rows,
            ),
            (
                GaugeMetricFamily,
                "log_oldest_wait_seconds",
                "How long the oldest decision waiting for the log has waited (503 past GATEWAY_LOG_MAX_WAIT_SECONDS)",
                log.oldest_wait_seconds,
            ),
        ):
            metric = family(f"{PREFIX}_{name}", doc, labels=["pid"])
            metric.add_metric(pid, value)
            yield metric


def render(container: Container) -> tuple[bytes, str]:
    """The exposition text: this process's state, plus every worker's counters and histograms."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(ProcessState(container))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """The default registry's metrics inside our per-scrape registry."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()
