"""Development mode: the only way the gateway runs on keys it made itself.

Production needs three keys: the identity provider's public keys (GATEWAY_JWKS_FILE), the master key
that wraps every document key (GATEWAY_MASTER_KEY or _FILE) and the Ed25519 key that signs log
checkpoints (GATEWAY_CHECKPOINT_KEY_FILE). Without any one of them a server refuses to start, unless
development mode is asked for by name (GATEWAY_DEV_MODE=true, or `serve --demo`); development mode
then says so on stderr, whatever the log level, since a token minted from a development key opens
every scope.
"""

from __future__ import annotations

import sys

from gateway.settings import Settings

ENV = "GATEWAY_DEV_MODE"


class DevelopmentKeysRefused(Exception):
    """A server asked to start without its keys, and development mode was not asked for."""


def missing_keys(settings: Settings) -> list[str]:
    missing = []
    if settings.jwks_file is None:
        missing.append("GATEWAY_JWKS_FILE")
    if settings.master_key is None and settings.master_key_file is None:
        missing.append("GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE)")
    if settings.checkpoint_key_file is None:
        missing.append("GATEWAY_CHECKPOINT_KEY_FILE")
    return missing


def public_url_problem(settings: Settings) -> str | None:
    """Production publishes its PDP identifier, an https URL (AuthZEN: TLS between PEP and PDP)."""
    url = settings.public_url
    if url is None:
        return (
            "set GATEWAY_PUBLIC_URL to the https URL document systems reach this gateway at (its AuthZEN "
            "identifier, e.g. https://pdp.example.go.jp)"
        )
    if not url.startswith("https://"):
        return (
            f"GATEWAY_PUBLIC_URL is {url!r}: AuthZEN requires TLS between PEP and PDP, so it is an https URL; "
            "end TLS at serve (GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE) or at a proxy in front"
        )
    return None


def require_keys(settings: Settings) -> None:
    """Refuse to serve without the three keys and an https public URL unless in development mode,
    which is announced."""
    missing = missing_keys(settings)
    if settings.dev_mode:
        made = f" Development keys stand in for: {', '.join(missing)}." if missing else ""
        print(
            f"clearance-gateway: DEVELOPMENT MODE ({ENV}=true).{made} Tokens signed by a development key "
            "are accepted and may carry every scope. Never run like this in production.",
            file=sys.stderr,
            flush=True,
        )
        return
    if missing:
        raise DevelopmentKeysRefused(
            f"the gateway will not serve without its keys; set {', '.join(missing)}, "
            f"or ask for development mode explicitly with {ENV}=true (or serve --demo)"
        )
    problem = public_url_problem(settings)
    if problem:
        raise DevelopmentKeysRefused(f"the gateway will not serve without its public identifier: {problem}")
