"""Draft the next revision from the models: python -m gateway.migrations "what it changes"

Alembic compares models/ with a scratch SQLite database migrated to head and writes the difference to
versions/NNNN_what_it_changes.py. A draft is where a revision starts, not where it ends: it cannot see
PostgreSQL-only objects (expression indexes, triggers) nor move data, so read it, finish it by hand,
and run tests/registry/test_migrations.py, which checks the models against a database migrated on both engines.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from gateway.db import make_engine, upgrade
from gateway.migrations import alembic_config, revisions
from gateway.settings import Settings


def draft(message: str) -> Path:
    number = f"{max(int(r.revision) for r in revisions().walk_revisions()) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(Settings(database_url=f"sqlite:///{Path(scratch) / 'head.db'}"))
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(alembic_config(conn), message, autogenerate=True, rev_id=number)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    print(f"Drafted {draft(argv[0])}: read it and finish it before committing it.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
