"""Values the request path records (gateway/metrics.py Pending) reach their metrics as if each had been
recorded at once: the same buckets, sum and counts in the exposition, from any thread, within a second
without a scrape."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.metrics import _FAST, Pending

_VALUES = st.lists(st.sampled_from([0.0, *_FAST]) | st.floats(0, 10, allow_nan=False), max_size=60)


def _metrics() -> tuple[CollectorRegistry, Histogram, Counter]:
    registry = CollectorRegistry()
    histogram = Histogram("wait_seconds", "a wait", ["route"], buckets=_FAST, registry=registry)
    counter = Counter("decisions", "decisions", ["result"], registry=registry)
    return registry, histogram, counter


def _exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@settings(max_examples=100, deadline=None)
@given(values=_VALUES, counts=st.lists(st.integers(1, 100), max_size=10))
def test_applied_values_expose_as_values_recorded_one_by_one(values: list[float], counts: list[int]) -> None:
    direct, histogram, counter = _metrics()
    for v in values:
        histogram.labels("/access/v1/evaluation").observe(v)
    for n in counts:
        counter.labels("deny").inc(n)
    later, histogram2, counter2 = _metrics()
    pending = Pending(interval=3600)
    for v in values:
        pending.observe(histogram2.labels("/access/v1/evaluation"), v)
    for n in counts:
        pending.add(counter2.labels("deny"), n)
    if values or counts:
        assert _exposition(later) != _exposition(direct)  # not applied yet
    pending.apply()
    assert _exposition(later) == _exposition(direct)
    pending.apply()  # nothing applied twice
    assert _exposition(later) == _exposition(direct)


def test_values_recorded_from_several_threads_are_all_applied_once() -> None:
    registry, histogram, counter = _metrics()
    pending = Pending(interval=3600)
    child = histogram.labels("/x")

    def record() -> None:
        for _ in range(2_000):
            pending.observe(child, 0.003)
            pending.add(counter.labels("allow"))

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        pending.apply()  # a scrape meanwhile
    for thread in threads:
        thread.join()
    pending.apply()
    assert registry.get_sample_value("decisions_total", {"result": "allow"}) == 8_000
    assert registry.get_sample_value("wait_seconds_count", {"route": "/x"}) == 8_000
    assert registry.get_sample_value("wait_seconds_bucket", {"route": "/x", "le": "0.0025"}) == 0
    assert registry.get_sample_value("wait_seconds_bucket", {"route": "/x", "le": "0.005"}) == 8_000


def test_without_a_scrape_the_values_are_applied_within_the_interval() -> None:
    registry, histogram, counter = _metrics()
    pending = Pending(interval=0.05)
    pending.add(counter.labels("deny"), 3)
    deadline = time.monotonic() + 5
    while registry.get_sample_value("decisions_total", {"result": "deny"}) != 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert registry.get_sample_value("decisions_total", {"result": "deny"}) == 3


def test_a_full_queue_is_applied_at_once() -> None:
    registry, _, counter = _metrics()
    pending = Pending(interval=3600)
    for _ in range(Pending.LIMIT + 1):
        pending.add(counter.labels("deny"))
    assert registry.get_sample_value("decisions_total", {"result": "deny"}) == Pending.LIMIT + 1


def test_a_value_that_cannot_be_applied_does_not_stop_the_thread() -> None:
    registry, _, counter = _metrics()
    pending = Pending(interval=0.05)
    pending.observe(object(), 1.0)  # no buckets: applying it raises in the thread, which logs and goes on
    pending.add(counter.labels("deny"), 2)
    deadline = time.monotonic() + 5
    while registry.get_sample_value("decisions_total", {"result": "deny"}) != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert registry.get_sample_value("decisions_total", {"result": "deny"}) == 2
