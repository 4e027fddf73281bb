"""The schema's history: Alembic revisions in `versions/`, shipped inside the package.

No alembic.ini is read: `alembic_config` builds Alembic's configuration in code, over a connection
that gateway.db opens, locks and commits (see `gateway.db.upgrade`). To draft the next revision from
the models, run `python -m gateway.migrations "what it changes"`.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

SCRIPTS = Path(__file__).resolve().parent  # env.py, script.py.mako, versions/
_ONE_AT_A_TIME = threading.Lock()  # Alembic keeps the running migration's context in module globals

# Alembic narrates each run in plain lines at INFO ("Context impl ...", "Running upgrade ..."), which would
# break the gateway's JSON log; gateway.db logs one structured event per upgrade instead.
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration; env.py migrates over `connection`, inside the caller's transaction."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")  # versions/0002_add_something.py
    config.attributes["connection"] = connection
    return config


def revisions() -> ScriptDirectory:
    """The revisions this gateway knows, linked by `down_revision`."""
    return _read(SCRIPTS)


def upgrade_to_head(connection: Connection) -> None:
    """`alembic upgrade head` over `connection`, with the revisions read once per process: every
    test makes a fresh database, so reading and compiling them again each time would show."""
    scripts = revisions()
    with (
        _ONE_AT_A_TIME,
        EnvironmentContext(
            alembic_config(connection),
            scripts,
            fn=lambda current, _context: scripts._upgrade_revs("head", current),  # as alembic.command.upgrade
            destination_rev="head",
        ),
    ):
        scripts.run_env()


@cache
def _read(folder: Path) -> ScriptDirectory:
    return ScriptDirectory(str(folder))
