"""The audit tests' shared gateway: one per backend and worker, with the scenario's decisions logged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.audit.scenario import Audited, audit_bundle, run_scenario
from tests.conftest import BACKENDS
from tests.support import Clock, Keys, fresh_database, running_gateway


@pytest.fixture(scope="session", params=BACKENDS)
def audited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Audited]:
    """One gateway per backend with the scenario's decisions logged; the tests here only read it."""
    directory = tmp_path_factory.mktemp("audit")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys, Clock()) as gw:
        gw.import_bundle(audit_bundle())
        yield Audited(gw, run_scenario(gw))
