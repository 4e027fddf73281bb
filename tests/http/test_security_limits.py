"""Issue 12, findings 1, 7, 10, 13 and 14: what an unauthenticated or over-eager caller can make the
gateway hold, and what a refusal tells them. Each test replays the attack that worked before."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.http_protocol import BoundedHttpProtocol
from gateway.limits import MAX_TOKEN_BYTES
from tests.support import Gateway, Keys, assert_problem, running_gateway

ORIGIN = {"Origin": "http://testserver"}  # the gateway's own origin passes the sign-in's CSRF check


@contextmanager
def sqlite_gateway(tmp_path: Path, keys: Keys, **overrides: Any) -> Iterator[Gateway]:
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}", tmp_path, keys, **overrides) as gw:
        yield gw


@pytest.fixture
def gw(tmp_path: Path, keys: Keys) -> Iterator[Gateway]:
    with sqlite_gateway(tmp_path, keys) as gw:
        yield gw


def chunked(*pieces: bytes) -> Iterator[bytes]:
    """A body sent without Content-Length (Transfer-Encoding: chunked)."""
    yield from pieces




# --- finding 1: bodies without Content-Length ----------------------------------------------------


def test_finding_1_a_chunked_signin_form_of_many_big_fields_is_413(gw: Gateway) -> None:
    fields = (b"f%d=" % i + b"x" * 1_000_000 + b"&" for i in range(40))  # each under Starlette's part limit
    response = gw.client.post(
        "/audit/signin",
        content=chunked(b"token=abc&", *fields),
        headers={**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 413)


def test_finding_1_the_signin_form_takes_no_files(gw: Gateway) -> None:
    response = gw.client.post(
        "/audit/signin", files={"token": ("t.txt", b"abc")}, headers=ORIGIN
    )
    assert response.status_code == 400
    assert "/audit/" not in response.headers.get("location", "")


def _multipart(document: str, content: bytes) -> tuple[list[bytes], dict[str, str]]:
    boundary = "security-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{document}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nBig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = [content[i : i + 65536] for i in range(0, len(content), 65536)]
    pieces = [head, *body, f"\r\n--{boundary}--\r\n".encode()]
    return pieces, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_finding_1_a_chunked_upload_past_the_upload_limit_is_413_and_nothing_is_stored(
    tmp_path: Path, keys: Keys
) -> None:
    with sqlite_gateway(tmp_path, keys, max_upload_bytes=4096) as gw:
        pieces, headers = _multipart("DOC-BIG", b"y" * 1024 * 1024)
        response = gw.client.post(
            "/v1/admin/documents", content=chunked(*pieces), headers={**headers, **keys.auth("registry:admin")}
        )
        assert_problem(response, 413)
        stored = [p for p in (tmp_path / "documents").rglob("*") if p.is_file()]
        assert stored == []
        small, headers = _multipart("DOC-SMALL", b"z" * 1000)
        response = gw.client.post(
            "/v1/admin/documents", content=chunked(*small), headers={**headers, **keys.auth("registry:admin")}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/access/v1/evaluation", "max_body_bytes"), ("/v1/admin/registry/import", "max_import_bytes")],
)
def test_finding_1_every_route_counts_a_chunked_body_against_its_own_limit(
    tmp_path: Path, keys: Keys, path: str, limit: str
) -> None:
    with sqlite_gateway(tmp_path, keys, **{limit: 4096}) as gw:
        headers = {**keys.auth("authz:evaluate", "registry:admin"), "Content-Type": "application/json"}
        response = gw.client.post(path, content=chunked(b'{"a": "', b"x" * 8192, b'"}'), headers=headers)
        assert_problem(response, 413)


# --- finding 7: header and token sizes -----------------------------------------------------------


def test_finding_7_a_token_over_the_limit_is_refused_before_it_is_parsed(gw: Gateway, keys: Keys) -> None:
    huge = keys.token("registry:admin", padding="x" * (MAX_TOKEN_BYTES + 1))  # a valid signature, all the same
    response = gw.client.get("/v1/admin/policy", headers={"Authorization": f"Bearer {huge}"})
    body = assert_problem(response, 401)
    assert f"longer than {MAX_TOKEN_BYTES} bytes" in body["detail"]
    assert huge not in response.text


def test_finding_7_headers_past_the_limit_are_431(tmp_path: Path, keys: Keys) -> None:
    with sqlite_gateway(tmp_path, keys, max_header_bytes=8192) as gw:
        response = gw.client.get("/healthz", headers={f"X-Pad-{i}": "p" * 1000 for i in range(10)})
        assert_problem(response, 431)
        assert gw.client.get("/healthz", headers={"X-Pad": "p" * 1000}).status_code == 200


@contextmanager
def bounded_server(max_header_bytes: int, header_timeout: float) -> Iterator[int]:
    """A real uvicorn server on the gateway's protocol, with a trivial app: the bounds are the protocol's."""

    class Protocol(BoundedHttpProtocol):
        pass

    Protocol.max_header_bytes, Protocol.header_timeout = max_header_bytes, header_timeout

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=Protocol, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _answer(conn: socket.socket, within: float) -> bytes:
    conn.settimeout(within)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except TimeoutError:
        return data + b"<still open>"
    except ConnectionResetError:
        return data + b"<reset>"
    return data


def test_finding_7_the_server_stops_reading_headers_past_the_limit() -> None:
    with bounded_server(8192, 5.0) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the server may close while 50 MB are still on their way
            for _ in range(800):
                conn.sendall(b"a" * 65536)
        answer = _answer(conn, 5.0)
        assert answer.startswith(b"HTTP/1.1 431") or answer == b"<reset>", answer[:200]


# --- finding 12: half-sent requests ----------------------------------------------------------------


def test_finding_12_a_request_whose_headers_never_end_is_closed_after_the_header_timeout() -> None:
    with bounded_server(32768, 0.5) as port:
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            started = time.monotonic()
            for conn in conns:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")  # and never the blank line
            answers = [_answer(conn, 5.0) for conn in conns]
            assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0]
            assert time.monotonic() - started < 4
        finally:
            for conn in conns:
                conn.close()
        with socket.create_connection(("127.0.0.1", port)) as conn:  # a whole request is still served
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _answer(conn, 5.0).startswith(b"HTTP/1.1 200")


# --- finding 10: scopes ----------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\t", "\u3000", "\n"], ids=["tab", "ideographic space", "newline"])
def test_finding_10_scopes_split_on_the_space_character_only(gw: Gateway, keys: Keys, separator: str) -> None:
    token = keys.token(scope=f"audit:read{separator}registry:admin")
    response = gw.client.get("/v1/admin/policy", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 403)
    token = keys.token(scope="audit:read registry:admin")
    assert gw.client.get("/v1/admin/policy", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- finding 13: the session cookie behind a TLS proxy ---------------------------------------------


def _signin(gw: Gateway, keys: Keys, **headers: str) -> Any:
    return gw.client.post(
        "/audit/signin",
        data={"token": keys.token("audit:read")},
        headers={**ORIGIN, **headers},
        follow_redirects=False,
    )


@pytest.mark.parametrize(("trusted", "secure"), [("*", True), ("", False), ("10.9.8.7", False)],
                         ids=["trusted proxy", "no proxy trusted", "another proxy trusted"])
def test_finding_13_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(
    tmp_path: Path, keys: Keys, trusted: str, secure: bool
) -> None:
    with sqlite_gateway(tmp_path, keys, trusted_proxies=trusted) as gw:
        origin = "https://testserver" if secure else "http://testserver"  # the scheme the gateway believes
        response = _signin(gw, keys, **{"X-Forwarded-Proto": "https", "Origin": origin})
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        assert ("; secure" in cookie.lower()) is secure, cookie


# --- finding 14: what a 401 says ---------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["iss", "aud"])
def test_finding_14_a_401_does_not_name_the_expected_issuer_or_audience(gw: Gateway, keys: Keys, claim: str) -> None:
    token = keys.token("audit:read", **{claim: "https://attacker.example"})
    response = gw.client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(response, 401)
    for secret in (gw.settings.jwt_issuer, gw.settings.jwt_audience, "https://idp.test"):
        assert secret not in response.text, body


def test_finding_12_serve_runs_uvicorn_on_the_bounded_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from gateway.cli import app as cli

    ran: dict[str, Any] = {}
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "http://127.0.0.1:8000")  # serve sets it otherwise, for good
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: ran.update(kwargs))
    monkeypatch.setattr("gateway.container.build_container",
                        lambda settings: SimpleNamespace(dev_issuer=None, close=lambda: None))
    result = CliRunner().invoke(cli, ["serve", "--port", "1", "--no-log-writer"], env={"GATEWAY_DEV_MODE": "true"})
    assert result.exit_code == 0, result.output
    assert ran["http"] is BoundedHttpProtocol and ran["timeout_keep_alive"] <= 5


def test_serve_starts_the_log_writer_for_its_workers_and_stops_it_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """#13: the workers' settings name the writer's socket while they run; after, nothing is left set."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from gateway.cli import app as cli

    events: list[str] = []

    @contextmanager
    def writer(*args: Any, **kwargs: Any) -> Any:
        events.append("writer started")
        yield tmp_path / "writer.sock"
        events.append("writer stopped")

    monkeypatch.delenv("GATEWAY_LOG_SOCKET", raising=False)
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setattr("gateway.audit.log_writer.writer_process", writer)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: events.append(f"workers on {os.environ['GATEWAY_LOG_SOCKET']}"))
    monkeypatch.setattr("gateway.container.build_container",
                        lambda settings: SimpleNamespace(dev_issuer=None, close=lambda: None))
    result = CliRunner().invoke(cli, ["serve", "--port", "1"], env={"GATEWAY_DEV_MODE": "true"})
    assert result.exit_code == 0, result.output
    assert events == ["writer started", f"workers on {tmp_path / 'writer.sock'}", "writer stopped"]
    assert "GATEWAY_LOG_SOCKET" not in os.environ
