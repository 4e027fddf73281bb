"""The benchmark's own identity provider: a JWKS file for the gateway and the tokens it accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://idp.bench.invalid"
AUDIENCE = "clearance-gateway-bench"
KID = "bench-key-1"


class Identity:
    """An ES256 key pair; the public half is written to `jwks_file` for GATEWAY_JWKS_FILE."""

    def __init__(self, jwks_file: Path):
        self.jwks_file = jwks_file
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        public |= {"kid": KID, "use": "sig", "alg": "ES256"}
        jwks_file.write_text(json.dumps({"keys": [public]}))

    def token(self, *scopes: str, sub: str = "bench-pep", lifetime: int = 3600) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": " ".join(scopes), "iat": now,
                  "exp": now + lifetime, "client_id": "bench"}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": KID})
