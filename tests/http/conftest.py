"""The HTTP tests' fixtures: the AuthZEN JSON schemas, and a gateway holding the rules registry."""

from __future__ import annotations

import pytest

from tests.http.authzen_calls import AUTHZEN, Schemas
from tests.support import Gateway


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    return Schemas(AUTHZEN)


@pytest.fixture
def gw(registry: Gateway) -> Gateway:
    """A gateway with the rules registry loaded (tests of refusals need none: they use `gateway`)."""
    return registry
