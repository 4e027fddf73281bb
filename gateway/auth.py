"""Bearer tokens: verified strictly against pinned keys, then reduced to a Caller with scopes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.errors import Forbidden, Unauthenticated
from gateway.limits import MAX_TOKEN_BYTES

SCOPES = {
    "authz:evaluate": "ask for decisions about any person",
    "authz:search": "AuthZEN search: who may act on a document, what a person may act on, which actions",
    "authz:simulate": "ask for decisions at another time (context.time); logged as simulations",
    "documents:read": "fetch document contents for oneself (sub is the person id)",
    "registry:admin": "change the registry",
    "policy:admin": "reload the policy",
    "audit:read": "read decision and change logs, verify, export, report",
}
# Each key type verifies exactly one algorithm: never `none`, never HMAC.
_ALGORITHM_FOR = {rsa.RSAPublicKey: "RS256", ec.EllipticCurvePublicKey: "ES256", ed25519.Ed25519PublicKey: "EdDSA"}


@dataclass(frozen=True, slots=True)
class Caller:
    sub: str
    client: str | None
    scopes: frozenset[str]
    expires_at: float

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, *scopes: str) -> None:
        """Any one of `scopes` will do."""
        if not any(s in self.scopes for s in scopes):
            raise Forbidden(
                f"this call needs the scope {' or '.join(scopes)}; the token carries "
                f"{' '.join(sorted(self.scopes)) or 'none'}"
            )


_CACHED_CALLER_BYTES = 1024  # 10,000 cached callers hold at most about 11 MB


def _size(caller: Caller) -> int:
    return len(caller.sub) + len(caller.client or "") + sum(len(s) for s in caller.scopes)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    key: Any
    algorithm: str


class TokenVerifier:
    """Verifies JWTs against a key set; a verified token's Caller is cached until the token expires."""

    def __init__(self, keys: list[VerificationKey], issuer: str, audience: str, cache_size: int = 10_000):
        if not keys:
            raise ValueError("no verification keys: refusing to start without them")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self._cache: dict[str, Caller] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthenticated("send Authorization: Bearer <token>")
        if len(authorization) > MAX_TOKEN_BYTES:  # before any hashing or parsing
            raise Unauthenticated(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must read: Bearer <token>")
        token = token.strip()
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(digest)
        now = time.time()
        if cached is not None and cached.expires_at > now:
            return cached
        caller = self._verify(token)
        if _size(caller) > _CACHED_CALLER_BYTES:
            return caller  # verified, but not kept: the cache is bounded in bytes as well as in entries
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[digest] = caller
        return caller

    def _verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the token is not a well-formed JWT") from exc
        key = self._key_for(header)
        if header.get("alg") != key.algorithm:
            raise Unauthenticated("the token's algorithm is not accepted")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_signature": True},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("the token is not meant for this gateway (aud)") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("the token's issuer is not accepted (iss)") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token lacks the required claim {exc.claim!r}") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the token's signature or claims do not verify") from exc
        scope = claims.get("scope", "")
        if not isinstance(scope, str) or not isinstance(claims["sub"], str):
            raise Unauthenticated("scope must be a space-separated string and sub a string")
        client = claims.get("client_id") or claims.get("azp")
        # RFC 6749 §3.3: scopes are separated by the space character (%x20) alone; a tab or an
        # ideographic space is part of a scope name, which then matches no scope the gateway knows.
        scopes = frozenset(s for s in scope.split(" ") if s)
        return Caller(claims["sub"], str(client) if client else None, scopes, float(claims["exp"]))

    def _key_for(self, header: dict[str, Any]) -> VerificationKey:
        kid = header.get("kid")
        if kid is not None:
            for key in self.keys:
                if key.kid == kid:
                    return key
            raise Unauthenticated("the token names a key (kid) this gateway does not know")
        if len(self.keys) == 1:
            return self.keys[0]
        raise Unauthenticated("the token has no kid and the gateway holds several keys")


def keys_from_jwks(path: Path) -> list[VerificationKey]:
    """Public keys from a JWKS file. A key that cannot be used stops start-up: never run unchecked."""
    try:
        data = json.loads(path.read_text())
        jwks = jwt.PyJWKSet.from_dict(data)
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise ValueError(f"cannot read the JWKS file {path}: {exc}") from exc
    keys = []
    for jwk in jwks.keys:
        public = jwk.key
        if hasattr(public, "public_key") and not isinstance(public, tuple(_ALGORITHM_FOR)):
            public = public.public_key()  # a private key in the JWKS: keep only its public half
        algorithm = next((alg for cls, alg in _ALGORITHM_FOR.items() if isinstance(public, cls)), None)
        if algorithm is None:
            raise ValueError(f"JWKS key {jwk.key_id!r} is not an RSA, EC P-256 or Ed25519 public key")
        if jwk.algorithm_name != algorithm:
            raise ValueError(f"JWKS key {jwk.key_id!r} declares an algorithm other than {algorithm}")
        keys.append(VerificationKey(jwk.key_id, public, algorithm))
    if not keys:
        raise ValueError(f"the JWKS file {path} holds no keys")
    return keys


class DevelopmentIssuer:
    """A local signing key for trying the gateway: persisted so tokens survive restarts."""

    KID = "dev-1"

    def __init__(self, path: Path, issuer: str, audience: str):
        self.issuer, self.audience = issuer, audience
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} is not an EC private key")
            self.private_key = loaded
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.private_key = ec.generate_private_key(ec.SECP256R1())
            pem = self.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)

    @property
    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.KID, self.private_key.public_key(), "ES256")

    def mint(self, sub: str, scopes: list[str], ttl_seconds: int = 12 * 3600, client: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if client:
            claims["client_id"] = client
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.KID})
