"""The test databases used again (tests/pg_pool.py): a database comes back with the template's rows
only, and one whose schema, triggers or settings a test changed is never handed out again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.pg_pool import Pool
from tests.support import PG_ADMIN_URL, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool_and_database(tmp_path: Path) -> Iterator[tuple[Pool, str]]:
    from tests.support import _pool

    with fresh_database("postgresql", tmp_path, migrated=True) as url:
        yield _pool(), url.rsplit("/", 1)[1]


def _sql(name: str, *statements: str) -> list[object]:
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            results = [conn.execute(text(s)) for s in statements]
            return [r.all() if r.returns_rows else [] for r in results]
    finally:
        engine.dispose()


def test_a_database_comes_back_with_the_template_rows_only(pool_and_database: tuple[Pool, str]) -> None:
    pool, name = pool_and_database
    [heads] = _sql(name, "SELECT chain, chain_index, hash FROM chain_heads ORDER BY chain")
    _sql(name, "INSERT INTO organs (id, name) VALUES ('METI', 'Ministry')",
         "UPDATE chain_heads SET chain_index = 7 WHERE chain = 'changes'")  # fmt: skip
    assert pool.give_back(name)
    assert pool.take() == name  # the fixture's teardown gives it back once more
    organs, heads_after = _sql(
        name, "SELECT * FROM organs", "SELECT chain, chain_index, hash FROM chain_heads ORDER BY chain"
    )
    assert organs == [] and heads_after == heads


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE decisions DISABLE TRIGGER USER",
        "ALTER TABLE organs ADD COLUMN extra text",
        "CREATE INDEX organs_by_name ON organs (name)",
        "REVOKE ALL ON decisions FROM PUBLIC; GRANT SELECT ON decisions TO PUBLIC",
    ],
)
def test_a_database_whose_schema_changed_is_not_used_again(pool_and_database: tuple[Pool, str], change: str) -> None:
    pool, name = pool_and_database
    _sql(name, *change.split("; "))
    assert not pool.give_back(name)


def test_a_database_whose_settings_changed_is_not_used_again(pool_and_database: tuple[Pool, str]) -> None:
    pool, name = pool_and_database
    _sql(name, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    assert not pool.give_back(name)
