from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Clock, Gateway, Keys, fresh_database, running_gateway

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("idp") / "jwks.json")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database; at the schema's head when the test runs a gateway on it (which would migrate it
    first anyway), else empty."""
    with fresh_database(backend, tmp_path, migrated="gateway" in request.fixturenames) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(db_url: str, tmp_path: Path, keys: Keys, clock: Clock) -> Iterator[Gateway]:
    with running_gateway(db_url, tmp_path, keys, clock) as gw:
        yield gw


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    """A gateway holding the rules registry (policy/tests/registry.yaml, through tests/rules_registry.py)."""
    from tests.rules_registry import rules_bundle

    gateway.import_bundle(rules_bundle())
    return gateway
