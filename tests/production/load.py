"""Mixed load against replicas, and a record of every answer it got.

Client threads (a few per replica, each with its own keep-alive connection) send AuthZEN evaluations
(allows and every kind of deny), batches of evaluations and document releases. Every request carries
its own X-Request-ID, and every answer is kept with the decisions it carried: an evaluation one, a
batch as many as it lists, a release (200 or 403) one, a 503 none. A request that got no answer
(connection refused or cut, timeout) is kept too, with its error.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from gateway.demo import DEMO_CASES
from tests.production.replicas import BIG_DOCUMENT, Replica
from tests.support import Keys

PROBLEM_JSON = "application/problem+json"
EVALUATIONS = [(person, document, shows.startswith("allow")) for person, document, shows in DEMO_CASES]
RELEASES = [  # (reader, document, released?)
    ("P-0001", "DOC-0001", True),
    ("P-0002", "DOC-0001", True),
    ("P-0001", BIG_DOCUMENT, True),
    ("P-0001", "DOC-0004", True),
    ("P-0011", "DOC-0001", False),
    ("P-0004", "DOC-0001", False),
    ("P-0009", "DOC-0001", False),
    ("P-0001", "DOC-9999", False),
]
MIX = {"evaluation": 0.45, "batch": 0.15, "release": 0.40}
BATCH_SIZE = 10


@dataclass(slots=True)
class Answer:
    kind: str
    replica: str
    request_id: str
    started: float  # time.monotonic()
    ended: float = 0.0
    status: int | None = None  # None: no answer reached the client
    error: str | None = None
    allowed: list[str] = field(default_factory=list)  # decision ids answered as allow
    denied: list[str] = field(default_factory=list)
    given: list[bool] = field(default_factory=list)  # the decisions, in order (True: allow)
    expected: list[bool] = field(default_factory=list)  # what the demo registry says each should be
    release: tuple[str, str] | None = None  # (person, document)
    body_bytes: int = 0
    body_ok: bool | None = None  # a release's bytes equal the uploaded content
    problem: dict[str, Any] | None = None  # the body of a 503 (or of anything unexpected)
    echoed: bool = True  # the answer carried our X-Request-ID
    fault: str | None = None  # the client could not make sense of the answer

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def decisions(self) -> int:
        return len(self.allowed) + len(self.denied)


class Load:
    """Drives `workers` client threads per replica until stopped; `answers` grows meanwhile."""

    def __init__(self, replicas: Iterable[Replica], keys: Keys, contents: dict[str, bytes], *,
                 workers: int = 3, timeout: float = 15.0, seed: int = 6):
        self.replicas = list(replicas)
        self.contents = contents
        self.workers = workers
        self.timeout = timeout
        self.seed = seed
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._evaluate = keys.auth("authz:evaluate", lifetime=3600)
        self._readers = {p: keys.auth("documents:read", sub=p, lifetime=3600) for p, _, _ in RELEASES}
        self.started = self.stopped = 0.0

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.started = time.monotonic()
        for replica, n in itertools.product(self.replicas, range(self.workers)):
            thread = threading.Thread(target=self._work, args=(replica, n), name=f"load-{replica.name}-{n}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 10)
        assert not any(t.is_alive() for t in self._threads), "a client thread hangs"
        if not self.stopped:
            self.stopped = time.monotonic()
        return self.answers

    def run_for(self, seconds: float) -> None:
        """Sleep while the load runs (it is already running)."""
        self._stop.wait(seconds)

    def _work(self, replica: Replica, n: int) -> None:
        rng = random.Random(f"{self.seed}-{replica.name}-{n}")
        kinds, weights = zip(*MIX.items(), strict=True)
        timeout = httpx.Timeout(self.timeout, connect=3.0)
        with httpx.Client(base_url=replica.url, timeout=timeout) as client:
            for seq in itertools.count():
                if self._stop.is_set():
                    return
                kind = rng.choices(kinds, weights)[0]
                answer = Answer(kind, replica.name, f"load-{replica.name}-{n}-{seq}", time.monotonic())
                try:
                    getattr(self, f"_{kind}")(client, rng, answer)
                except httpx.HTTPError as exc:
                    answer.error = f"{type(exc).__name__}: {exc}"
                except Exception as exc:  # kept for the test to report, never lost with the thread
                    answer.fault = f"{type(exc).__name__}: {exc}"
                answer.ended = time.monotonic()
                self.answers.append(answer)
                if answer.status is None:
                    time.sleep(0.05)  # a replica that is gone: do not spin on connection refusals

    def _headers(self, answer: Answer, auth: dict[str, str]) -> dict[str, str]:
        return {**auth, "X-Request-ID": answer.request_id}

    def _evaluation(self, client: httpx.Client, rng: random.Random, answer: Answer) -> None:
        person, document, allow = rng.choice(EVALUATIONS)
        answer.expected = [allow]
        response = client.post("/access/v1/evaluation", json=_item(person, document),
                               headers=self._headers(answer, self._evaluate))
        self._answered(answer, response)
        if response.status_code == 200:
            self._decided(answer, [response.json()])

    def _batch(self, client: httpx.Client, rng: random.Random, answer: Answer) -> None:
        cases = [rng.choice(EVALUATIONS) for _ in range(BATCH_SIZE)]
        answer.expected = [allow for _, _, allow in cases]
        body = {"evaluations": [_item(p, d) for p, d, _ in cases]}
        response = client.post("/access/v1/evaluations", json=body, headers=self._headers(answer, self._evaluate))
        self._answered(answer, response)
        if response.status_code == 200:
            decisions = response.json()["evaluations"]
            if len(decisions) != BATCH_SIZE:
                raise ValueError(f"{len(decisions)} decisions for a batch of {BATCH_SIZE}")
            self._decided(answer, decisions)

    def _release(self, client: httpx.Client, rng: random.Random, answer: Answer) -> None:
        person, document, released = rng.choice(RELEASES)
        answer.expected, answer.release = [released], (person, document)
        path = f"/v1/documents/{document}/content"
        with client.stream("GET", path, headers=self._headers(answer, self._readers[person])) as response:
            self._answered(answer, response)
            if response.status_code == 200:
                # The headers are here: from now on the client holds a release, whole or not.
                answer.allowed.append(response.headers["X-Decision-Id"])
                answer.given.append(True)
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    answer.body_bytes = len(received)
                answer.body_ok = bytes(received) == self.contents[document]
            else:
                response.read()
                if response.status_code == 403:
                    answer.denied.append(response.json()["decision_id"])
                    answer.given.append(False)

    def _answered(self, answer: Answer, response: httpx.Response) -> None:
        answer.status = response.status_code
        answer.echoed = response.headers.get("X-Request-ID") == answer.request_id
        if response.status_code not in (200, 403):
            response.read()
            answer.problem = _problem(response)

    def _decided(self, answer: Answer, decisions: list[dict[str, Any]]) -> None:
        for decision in decisions:
            answer.given.append(decision["decision"])
            (answer.allowed if decision["decision"] else answer.denied).append(decision["context"]["decision_id"])


def _item(person: str, document: str) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "resource": {"type": "document", "id": document},
            "action": {"name": "read"}}


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {"unparsed": response.text[:200]}
    return {"content_type": response.headers.get("content-type"), **body}


# --- figures ----------------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(answers: list[Answer], seconds: float, rows: int | None = None, title: str = "load") -> str:
    answered = [a for a in answers if a.status is not None]
    decisions = sum(a.decisions for a in answered)
    lines = [
        f"== {title}: {len(answers)} requests in {seconds:.1f} s, {len(answered)} answered "
        f"({len(answered) / seconds:.0f} req/s), {decisions} decisions ({decisions / seconds:.0f}/s)"
        + (f", {rows} decision-log rows" if rows is not None else ""),
        f"   allowed {sum(len(a.allowed) for a in answered)}, denied {sum(len(a.denied) for a in answered)}, "
        f"503 {sum(a.status == 503 for a in answered)}, unanswered {len(answers) - len(answered)}",
    ]
    for kind in MIX:
        of_kind = [a for a in answered if a.kind == kind and a.status != 503]
        ms = [a.latency * 1000 for a in of_kind]
        lines.append(f"   {kind:<10} {len(of_kind):>7} answered  p50 {percentile(ms, 50):7.1f} ms  "
                     f"p99 {percentile(ms, 99):7.1f} ms")
    return "\n".join(lines)
