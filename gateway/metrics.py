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

import atexit
import os
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from gateway.container import Container

log = structlog.get_logger("gateway.metrics")
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


class Pending:
    """Observations and counts the request path makes, applied to their metrics together.

    prometheus_client takes a lock for every value it records (and a histogram finds its bucket in a
    Python loop): about 14 µs of a single evaluation's CPU went to recording its five values. Here a
    value is appended to a deque (atomic, so any thread may record) and applied, summed per metric, when
    this process answers a scrape (`render`), when 10,000 wait, and once a second from a daemon thread,
    which also keeps the figures of every worker's files (`serve --workers N`) at most a second behind.
    """

    LIMIT = 10_000

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._observed: deque[tuple[Any, float]] = deque()
        self._counted: deque[tuple[Any, float]] = deque()
        self._lock = threading.Lock()  # one applier at a time: the thread, a scrape, a full queue
        self._started = False

    def observe(self, histogram: Any, value: float) -> None:
        """`histogram.observe(value)`, later (a histogram without labels, or a `labelled` child)."""
        self._observed.append((histogram, value))
        self._wake()

    def add(self, counter: Any, amount: float = 1) -> None:
        """`counter.inc(amount)`, later."""
        self._counted.append((counter, amount))
        self._wake()

    def apply(self) -> None:
        with self._lock:
            sums: dict[Any, list[Any]] = {}
            for _ in range(len(self._observed)):
                histogram, value = self._observed.popleft()
                held = sums.get(histogram)
                if held is None:
                    held = sums[histogram] = [0.0, [0] * len(histogram._upper_bounds)]
                held[0] += value
                held[1][bisect_left(histogram._upper_bounds, value)] += 1  # observe's bucket: the first bound >= value
            for histogram, (total, buckets) in sums.items():
                histogram._sum.inc(total)
                for bucket, count in zip(histogram._buckets, buckets, strict=True):
                    if count:
                        bucket.inc(count)
            counts: dict[Any, float] = {}
            for _ in range(len(self._counted)):
                counter, amount = self._counted.popleft()
                counts[counter] = counts.get(counter, 0) + amount
            for counter, amount in counts.items():
                counter.inc(amount)

    def _wake(self) -> None:
        if len(self._observed) + len(self._counted) > self.LIMIT:
            self.apply()
        elif not self._started:  # the first value in this process
            self._started = True
            threading.Thread(target=self._run, name="metrics-apply", daemon=True).start()

    def _forked(self) -> None:
        """In a new process (a worker): no thread yet, and the values waiting are the parent's to apply."""
        self._started = False
        self._lock = threading.Lock()
        self._observed.clear()
        self._counted.clear()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.apply()
            except Exception as exc:  # the thread must outlive a bad value: the next second tries again
                log.error("metrics.apply_failed", error=type(exc).__name__)


PENDING = Pending()
atexit.register(PENDING.apply)
os.register_at_fork(after_in_child=PENDING._forked)


def count_decisions(channel: str, results: Iterable[tuple[bool, Iterable[str]]]) -> None:
    """One call per request: tallied first, so a batch of 1,000 records a few counts, not 1,000."""
    allowed = denied = 0
    codes: dict[str, int] = {}
    for ok, reasons in results:
        if ok:
            allowed += 1
            continue
        denied += 1
        for code in reasons:
            codes[code] = codes.get(code, 0) + 1
    if allowed:
        PENDING.add(labelled(DECISIONS, "allow", channel), allowed)
    if denied:
        PENDING.add(labelled(DECISIONS, "deny", channel), denied)
    for code, count in codes.items():
        PENDING.add(labelled(DENIAL_REASONS, code), count)


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
    PENDING.apply()
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
