"""Measurements 9 to 11, on the gateway that measurement 5 started (bench/gateway_asgi.py):

9, 10 release        GET /v1/documents/{id}/content of a 100 KiB document (random bytes, uploaded
                      through POST /v1/admin/documents) by a person allowed to read it, beside GET of
                      the same bytes as a plain static file of the same app; every body's length checked
11 large release      a document of --big-mb MB uploaded (the multipart body streamed from a file) and
                      released once, while the gateway process's VmRSS is sampled every 50 ms; the
                      sha256 of what arrived must equal the upload's
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.http_client import LoadResult, get_request, run_load
from bench.http_phase import Load
from bench.inprocess import Prepared
from bench.memory import Peak, mib, peak_rss, reset_peak, status_kib
from bench.servers import HOST, Server
from bench.workspace import STATIC_PREFIX, Workspace

RELEASE_BYTES = 100 * 1024
RELEASE_ID = "BENCH-RELEASE-100K"
BIG_ID = "BENCH-RELEASE-BIG"
STATIC_NAME = "release-100k.bin"
MB = 1_000_000  # throughput in MB/s means 10^6 bytes per second
READ_CHUNK = 1024 * 1024
RSS_EVERY = 0.05


class ReleaseFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Reader:
    """A person the decision core allows to read a classified document, and that document's designation:
    the person may read any document of it, so also the uploaded ones."""

    person: str
    designation: str


def pick_reader(prepared: Prepared, bundle: dict[str, Any]) -> Reader:
    designation_of = {d["id"]: d["designation_id"] for d in bundle["documents"]}
    for (person, document), allowed in zip(prepared.cases, prepared.expected, strict=True):
        if allowed and designation_of.get(document):
            return Reader(person, designation_of[document])
    raise ReleaseFailed("no prepared case allows a person to read a classified document")


def write_random(path: Path, size: int) -> str:
    """`size` random bytes to `path`, in chunks (never all in memory); their sha256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(READ_CHUNK, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def upload(port: int, token: str, document_id: str, designation: str, source: Path) -> dict[str, Any]:
    """POST /v1/admin/documents as multipart/form-data, the file part streamed from `source`."""
    boundary = uuid.uuid4().hex
    fields = {"id": document_id, "title": f"Benchmark {document_id}", "designation_id": designation,
              "media_type": "application/octet-stream"}
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{source.name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        connection.putrequest("POST", "/v1/admin/documents")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + source.stat().st_size + len(tail)))
        connection.endheaders()
        connection.send(head)
        with source.open("rb") as content:
            while chunk := content.read(READ_CHUNK):
                connection.send(chunk)
        connection.send(tail)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 201:
        raise ReleaseFailed(f"uploading {document_id} answered {response.status}: {body[:300]!r}")
    return dict(json.loads(body))


@dataclass(frozen=True)
class Fetched:
    status: int
    length: int  # body bytes received
    sha256: str
    seconds: float  # from sending the request to the last body byte
    first_bytes: bytes  # the start of the body, to explain a failure


def fetch(port: int, path: str, token: str | None) -> Fetched:
    """One GET whose body is read by Content-Length in 1 MiB pieces and hashed, never held whole."""
    digest = hashlib.sha256()
    buffer = bytearray(READ_CHUNK)
    with socket.create_connection((HOST, port), timeout=600) as sock:
        started = time.perf_counter()
        sock.sendall(get_request(port, path, token))
        head = b""
        while b"\r\n\r\n" not in head:
            piece = sock.recv(65536)
            if not piece:
                raise ReleaseFailed(f"GET {path}: the connection closed before the headers ended")
            head += piece
        head, _, body = head.partition(b"\r\n\r\n")
        headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
        length = {k.strip().lower(): v.strip() for k, v in headers.items()}.get(b"content-length")
        if length is None:
            raise ReleaseFailed(f"GET {path}: an answer without Content-Length")
        expected, received, first = int(length), len(body), bytes(body[:300])
        digest.update(body)
        view = memoryview(buffer)
        while received < expected:
            count = sock.recv_into(view, min(READ_CHUNK, expected - received))
            if not count:
                break
            digest.update(view[:count])
            received += count
        seconds = time.perf_counter() - started
    return Fetched(int(head[9:12]), received, digest.hexdigest(), seconds, first)


# --- 9, 10: release beside a static file -----------------------------------------------------------


@dataclass
class Phase:
    """One HTTP measurement on the running gateway (same shape as measurements 5 and 8)."""

    name: str
    measured: LoadResult
    warmup: LoadResult
    server_cpu_seconds: float | None
    peak: Peak | None = None  # the server's peak RSS during the measured window

    def as_dict(self, concurrency: int, expected_length: int) -> dict[str, Any]:
        m, wall = self.measured, self.measured.summary.seconds
        return {
            **m.summary.as_dict(),
            "statuses": {str(k): v for k, v in sorted(m.statuses.items())},
            "ok_per_second": round(m.ok / wall, 1) if wall else 0.0,
            "mb_per_second": round(m.body_bytes / wall / MB, 1) if wall else 0.0,
            "body_bytes_expected": expected_length,
            "wrong_lengths": m.wrong_lengths + self.warmup.wrong_lengths,
            "transport_errors": m.transport_errors,
            "timed_out": m.timed_out or self.warmup.timed_out,
            "warmup_requests": self.warmup.summary.operations,
            "error_bodies": {str(k): v for k, v in (self.warmup.error_bodies | m.error_bodies).items()},
            "concurrency": concurrency,
            "server_cpu_cores": None if self.server_cpu_seconds is None or not wall
            else round(self.server_cpu_seconds / wall, 2),
            "client_cpu_cores": round(m.client_cpu_seconds / wall, 2) if wall else 0.0,
            **(self.peak.as_dict() if self.peak else {"rss_before_mib": None, "peak_rss_mib": None}),
        }


def _measure(server: Server, name: str, request: bytes, load: Load) -> Phase:
    def drive(seconds: float) -> LoadResult:
        return run_load(server.port, [request], concurrency=load.concurrency, seconds=seconds,
                        max_requests=load.max_requests, expected_length=RELEASE_BYTES)

    warmup = drive(load.warmup_seconds)
    cpu_before = server.cpu_seconds()
    with peak_rss(server.process.pid) as peak:
        measured = drive(load.seconds)
    cpu_after = server.cpu_seconds()
    cpu = None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 3)
    return Phase(name, measured, warmup, cpu, peak)


@dataclass
class ReleaseOutcome:
    reader: Reader
    upload: dict[str, Any]
    release: Phase
    static: Phase
    release_answers_200: int  # every 200 answer of the release route, probes included
    checks: dict[str, Any] = field(default_factory=dict)


def bench_release(server: Server, workspace: Workspace, reader: Reader, load: Load) -> ReleaseOutcome:
    """Upload the static file's bytes as a document, check one release, then time release and static."""
    static_file = workspace.static_dir / STATIC_NAME
    expected_sha = hashlib.sha256(static_file.read_bytes()).hexdigest()
    stored = upload(server.port, workspace.identity.token("registry:admin"), RELEASE_ID, reader.designation,
                    static_file)
    token = workspace.identity.token("documents:read", sub=reader.person)
    path = f"/v1/documents/{RELEASE_ID}/content"
    probe = fetch(server.port, path, token)
    if probe.status != 200 or probe.sha256 != expected_sha:
        raise ReleaseFailed(f"{reader.person} reading {RELEASE_ID} ({reader.designation}): {probe.status}, "
                            f"{probe.length} bytes: {probe.first_bytes!r}")
    static_probe = fetch(server.port, f"{STATIC_PREFIX}/{STATIC_NAME}", None)
    release = _measure(server, "release", get_request(server.port, path, token), load)
    static = _measure(server, "static", get_request(server.port, f"{STATIC_PREFIX}/{STATIC_NAME}"), load)
    outcome = ReleaseOutcome(reader, stored, release, static, 1 + release.warmup.ok + release.measured.ok)
    outcome.checks = {
        "uploaded_sha256_matches": stored.get("sha256") == expected_sha,
        "first_release_sha256_matches": probe.sha256 == expected_sha,
        "static_sha256_matches": static_probe.status == 200 and static_probe.sha256 == expected_sha,
    }
    return outcome


# --- 11: memory of one large release ---------------------------------------------------------------


class RssSampler:
    """VmRSS of a process every 50 ms, on a thread of its own, while the block runs."""

    def __init__(self, pid: int, every: float = RSS_EVERY):
        self.pid, self.every = pid, every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            rss = status_kib(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append(rss)
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float | None:
        return round(max(self.samples) / 1024, 1) if self.samples else None


def bench_big_release(server: Server, workspace: Workspace, reader: Reader, size_mb: int) -> dict[str, Any]:
    size = size_mb * MB
    source = workspace.root / "big-release.bin"
    expected_sha = write_random(source, size)
    pid = server.process.pid
    before_upload = status_kib(pid, "VmRSS")
    with RssSampler(pid) as during_upload:
        started = time.perf_counter()
        stored = upload(server.port, workspace.identity.token("registry:admin"), BIG_ID, reader.designation, source)
        upload_seconds = time.perf_counter() - started
    source.unlink()  # the gateway holds its own (encrypted) copy now
    time.sleep(0.5)  # let the upload's buffers go before the baseline is read
    baseline = status_kib(pid, "VmRSS")
    exact_peak = reset_peak(pid)
    token = workspace.identity.token("documents:read", sub=reader.person)
    with RssSampler(pid) as during_release:
        got = fetch(server.port, f"/v1/documents/{BIG_ID}/content", token)
    high_water = status_kib(pid, "VmHWM") if exact_peak else None

    return {
        "size_bytes": size,
        "upload_seconds": round(upload_seconds, 2),
        "upload_mb_per_second": round(size / upload_seconds / MB, 1),
        "uploaded_sha256_matches": stored.get("sha256") == expected_sha,
        "rss_before_upload_mib": mib(before_upload),
        "rss_peak_during_upload_mib": during_upload.peak_mib,
        "rss_baseline_mib": mib(baseline),
        "rss_peak_during_release_mib": during_release.peak_mib,
        "rss_high_water_during_release_mib": mib(high_water),  # VmHWM after a reset: the exact peak, if any
        "rss_samples": len(during_release.samples),
        "release_status": got.status,
        "release_bytes": got.length,
        "release_seconds": round(got.seconds, 2),
        "release_mb_per_second": round(got.length / got.seconds / MB, 1) if got.seconds else 0.0,
        "release_sha256_matches": got.status == 200 and got.sha256 == expected_sha and got.length == size,
        "release_error": None if got.status == 200 else got.first_bytes.decode(errors="replace"),
    }
