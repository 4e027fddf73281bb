"""Bearer tokens and scopes, as a caller sees them: 401 for a missing or invalid token, 403 for a
valid token without the scope, and never the token itself in an answer. Pure HTTP-edge checks, so
SQLite only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from models import ChangeEvent
from tests.support import AUDIENCE, ISSUER, PROBLEM_JSON, Gateway, Keys

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

EVALUATION = "/access/v1/evaluation"
BODY = {"subject": {"type": "person", "id": "P-OK"}, "resource": {"type": "document", "id": "D-ESI"},
        "action": {"name": "read"}}


def b64url(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "pep-1", "scope": "authz:evaluate",
            "iat": now, "exp": now + 600}
    return {k: v for k, v in (body | overrides).items() if v is not None}


def unsigned(keys: Keys, **header: Any) -> str:
    """alg none, made by hand: PyJWT will not make one for a key."""
    return f"{b64url({'alg': 'none', 'typ': 'JWT', 'kid': keys.kid, **header})}.{b64url(claims())}."


def hmac_with_public_key(keys: Keys) -> str:
    """The classic confusion: HS256 keyed with the verifier's own public key (PEM)."""
    pem = keys.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64url({'alg': 'HS256', 'typ': 'JWT', 'kid': keys.kid})}.{b64url(claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def foreign_key(keys: Keys, kid: str | None = None) -> str:
    """Signed by another EC key, under our key's kid (or another)."""
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(), other, algorithm="ES256", headers={"kid": kid or keys.kid})


def tampered(keys: Keys) -> str:
    """A genuine token whose payload was swapped for a more powerful one after signing."""
    header, _, signature = keys.token("documents:read").split(".")
    return f"{header}.{b64url(claims(scope='authz:evaluate registry:admin'))}.{signature}"


BAD_TOKENS: list[tuple[str, Callable[[Keys], str], str | None]] = [
    # name, how to make the token, a word the problem's detail must hold
    ("garbage", lambda k: "not-a-token", "well-formed"),
    ("three dots of nothing", lambda k: "a.b.c", None),
    ("expired beyond the leeway", lambda k: k.token("authz:evaluate", lifetime=-60), "expired"),
    ("long expired", lambda k: k.token("authz:evaluate", lifetime=-86_400), "expired"),
    ("wrong aud", lambda k: k.token("authz:evaluate", aud="another-service"), "aud"),
    ("wrong iss", lambda k: k.token("authz:evaluate", iss="https://evil.test"), "iss"),
    ("missing exp", lambda k: k.token("authz:evaluate", exp=None), "exp"),
    ("missing sub", lambda k: k.token("authz:evaluate", sub=None), "sub"),
    ("missing iss", lambda k: k.token("authz:evaluate", iss=None), "iss"),
    ("missing aud", lambda k: k.token("authz:evaluate", aud=None), "aud"),
    ("not yet valid", lambda k: k.token("authz:evaluate", nbf=int(time.time()) + 3600), None),
    ("sub not a string", lambda k: k.token("authz:evaluate", sub=42), None),
    ("scope not a string", lambda k: k.token(scope=["authz:evaluate"]), "scope"),
    ("alg none", unsigned, "algorithm"),
    ("alg none without kid", lambda k: unsigned(k, kid=None), None),
    ("HS256 keyed with the public key", hmac_with_public_key, "algorithm"),
    ("another key, same kid", foreign_key, None),
    ("unknown kid", lambda k: foreign_key(k, kid="someone-elses-key"), "kid"),
    ("payload swapped after signing", tampered, None),
]


def assert_401(response: Any, secret: str | None, detail_word: str | None = None) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    if detail_word is not None:
        assert detail_word in body["detail"], body["detail"]
    if secret:
        assert secret not in response.text
        assert secret not in response.headers["WWW-Authenticate"]
    return body


def assert_403(response: Any, token: str, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == 403 and body["type"].startswith("https://")
    assert body["title"] and scope in body["detail"]
    assert token not in response.text


# --- 401: no token, or not one we trust ---------------------------------------------------------------

AUTHORIZATION_HEADERS: list[tuple[str, dict[str, str]]] = [
    ("no header", {}),
    ("empty header", {"Authorization": ""}),
    ("Basic", {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}),
    ("Bearer without a token", {"Authorization": "Bearer"}),
    ("Bearer and spaces", {"Authorization": "Bearer    "}),
    ("the token without a scheme", {"Authorization": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}),
]


@pytest.mark.parametrize("headers", [c[1] for c in AUTHORIZATION_HEADERS],
                         ids=[c[0] for c in AUTHORIZATION_HEADERS])
def test_no_usable_authorization_header_is_401(gateway: Gateway, headers: dict[str, str]) -> None:
    assert_401(gateway.client.post(EVALUATION, json=BODY, headers=headers), None)


def test_a_valid_token_under_another_scheme_is_401(gateway: Gateway) -> None:
    token = gateway.keys.token("authz:evaluate")
    assert_401(gateway.client.post(EVALUATION, json=BODY, headers={"Authorization": f"Token {token}"}), token)


@pytest.mark.parametrize(("make", "word"), [c[1:] for c in BAD_TOKENS], ids=[c[0] for c in BAD_TOKENS])
def test_a_token_that_does_not_verify_is_401(gateway: Gateway, make: Callable[[Keys], str],
                                             word: str | None) -> None:
    token = make(gateway.keys)
    response = gateway.client.post(EVALUATION, json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert_401(response, token, word)


def test_authentication_comes_before_reading_the_body(gateway: Gateway) -> None:
    response = gateway.client.post(EVALUATION, content=b"{not json",
                                   headers={"Content-Type": "application/json"})
    assert_401(response, None)


# --- accepted tokens (the controls for the table above) -----------------------------------------------

ACCEPTED: list[tuple[str, Callable[[Keys], str]]] = [
    ("a fresh token", lambda k: f"Bearer {k.token('authz:evaluate')}"),
    ("expired within the 30 s leeway", lambda k: f"Bearer {k.token('authz:evaluate', lifetime=-10)}"),
    ("the scheme in lower case", lambda k: f"bearer {k.token('authz:evaluate')}"),
    ("aud as a list", lambda k: f"Bearer {k.token('authz:evaluate', aud=['other', AUDIENCE])}"),
    ("several scopes", lambda k: f"Bearer {k.token('audit:read', 'authz:evaluate', 'registry:admin')}"),
    ("no kid, one key", lambda k: "Bearer " + jwt.encode(claims(), k.private_key, algorithm="ES256")),
]


@pytest.mark.parametrize("make", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_a_good_token_is_accepted(gateway: Gateway, make: Callable[[Keys], str]) -> None:
    for _ in range(2):  # the second time from the verifier's cache
        response = gateway.client.post(EVALUATION, json=BODY, headers={"Authorization": make(gateway.keys)})
        assert response.status_code == 200, response.text
        assert response.json()["decision"] is False  # no registry: subject_unknown


# --- 403: a valid token without the scope --------------------------------------------------------------

FORBIDDEN: list[tuple[tuple[str, ...], str, str, Any, str]] = [
    # the token's scopes, method, path, JSON body, the scope the problem must name
    (("registry:admin",), "POST", EVALUATION, BODY, "authz:evaluate"),
    (("audit:read",), "POST", EVALUATION, BODY, "authz:evaluate"),
    (("documents:read",), "POST", "/access/v1/evaluations", {"evaluations": [BODY]}, "authz:evaluate"),
    ((), "POST", EVALUATION, BODY, "authz:evaluate"),
    (("authz:evaluate",), "POST", "/v1/admin/registry/import", {}, "registry:admin"),
    (("audit:read",), "POST", "/v1/admin/registry/import", {}, "registry:admin"),
    (("policy:admin",), "POST", "/v1/admin/registry/import", {}, "registry:admin"),
    (("authz:evaluate", "authz:simulate"), "POST", "/v1/admin/registry/import", {}, "registry:admin"),
    (("audit:read",), "POST", "/v1/admin/policy/reload", None, "policy:admin"),
    (("registry:admin",), "POST", "/v1/admin/policy/reload", None, "policy:admin"),
    (("audit:read",), "GET", "/v1/admin/policy", None, "policy:admin"),
    (("authz:evaluate",), "GET", "/v1/admin/policy", None, "registry:admin"),
]


@pytest.mark.parametrize(("scopes", "method", "path", "body", "needed"), FORBIDDEN,
                         ids=[f"{' '.join(c[0]) or 'no scope'} -> {c[1]} {c[2]}" for c in FORBIDDEN])
def test_a_valid_token_without_the_scope_is_403(gateway: Gateway, scopes: tuple[str, ...], method: str,
                                                path: str, body: Any, needed: str) -> None:
    token = gateway.keys.token(*scopes)
    response = gateway.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert_403(response, token, needed)


def changes(gateway: Gateway) -> int:
    with gateway.container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one()


def test_audit_read_cannot_import_and_nothing_changes(gateway: Gateway) -> None:
    bundle = {"organs": [{"id": "METI", "name": "Ministry of Economy, Trade and Industry"}]}
    token = gateway.keys.token("audit:read")
    assert_403(gateway.client.post("/v1/admin/registry/import", json=bundle,
                                   headers={"Authorization": f"Bearer {token}"}), token, "registry:admin")
    assert changes(gateway) == 0
    gateway.import_bundle(bundle)  # the same bundle, from an administrator, does change the registry
    assert changes(gateway) > 0


# --- no token needed ------------------------------------------------------------------------------------

PUBLIC = ["/healthz", "/readyz", "/.well-known/authzen-configuration", "/openapi.json"]


@pytest.mark.parametrize("path", PUBLIC)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["no token", "a bad token"])
def test_public_endpoints_need_no_token(gateway: Gateway, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = gateway.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")


def test_readyz_reports_the_policy_version(gateway: Gateway) -> None:
    ready = gateway.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["database"] == "ok"
    assert ready["policy_version"].startswith("sha256:")
    assert ready["policy_version"] == gateway.container.policies.current.version
    decided = gateway.client.post(EVALUATION, json=BODY, headers=gateway.keys.auth("authz:evaluate")).json()
    assert decided["context"]["policy_version"] == ready["policy_version"]
