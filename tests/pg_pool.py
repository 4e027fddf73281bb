"""Migrated PostgreSQL databases used again: a test's database, once its gateway is gone, is reset to the
template's state (every row deleted, the template's own rows put back, sequences restarted) and handed
to the next test of the same process. Creating a database from the template costs 120-320 ms and
dropping it up to 200 ms; the reset about 20 ms.

A database is used again only when nothing but its rows changed: its schema, privileges, triggers,
functions and database settings must read exactly as the template's (a fingerprint of the catalogue),
and no table may have grown large. Anything else (a test that downgrades, disables a trigger, makes
the database read-only, loads a million rows) gets the database dropped, as before.
"""

from __future__ import annotations

import atexit
from typing import Any

from sqlalchemy import Connection, create_engine, text

_LARGE = 8 * 1024 * 1024  # bytes in one table beyond which dropping is cheaper than deleting
_FINGERPRINT = text(
    """
    SELECT md5(string_agg(item, E'\\n' ORDER BY item)) FROM (
        SELECT concat_ws(':', 'rel', c.relname, c.relkind::text, c.relacl::text, c.reloptions::text,
                         c.relhastriggers::text, c.relrowsecurity::text) AS item
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
        UNION ALL
        SELECT concat_ws(':', 'col', a.attrelid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod),
                         a.attnotnull::text, pg_get_expr(d.adbin, d.adrelid))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT concat_ws(':', 'con', conrelid::regclass::text, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT concat_ws(':', 'idx', indexrelid::regclass::text, pg_get_indexdef(indexrelid)) FROM pg_index
        WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
        UNION ALL
        SELECT concat_ws(':', 'trg', tgrelid::regclass::text, tgname, tgenabled::text) FROM pg_trigger
        WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
        UNION ALL
        SELECT concat_ws(':', 'fn', proname, md5(prosrc), proacl::text) FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT concat_ws(':', 'db', datallowconn::text, datconnlimit::text, datacl::text) FROM pg_database
        WHERE datname = current_database()
        UNION ALL
        SELECT concat_ws(':', 'set', setrole::text, setconfig::text) FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
        UNION ALL
        SELECT concat_ws(':', 'nsp', nspname, nspacl::text) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
    ) items
    """
)


class Pool:
    """Databases of one test process, reset and ready; `template_url` is the migrated template's URL."""

    def __init__(self, admin_url: str, template_url: str) -> None:
        self._admin_url = admin_url
        self._free: list[str] = []
        engine = create_engine(template_url)
        try:
            with engine.connect() as conn:
                self._fingerprint = conn.execute(_FINGERPRINT).scalar_one()
                self._tables = list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                                    .scalars())  # fmt: skip
                self._rows = {t: _rows(conn, t) for t in self._tables}
        finally:
            engine.dispose()
        atexit.register(self._drop_all)

    def take(self) -> str | None:
        """A reset database's name, or None when none is free."""
        return self._free.pop() if self._free else None

    def give_back(self, name: str) -> bool:
        """Reset `name` to the template's state and keep it; False (and nothing kept) when it cannot be."""
        engine = create_engine(self._url(name))
        try:
            with engine.connect() as conn:  # one transaction: nothing is kept unless all of it commits
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                )  # fmt: skip
                if conn.execute(_FINGERPRINT).scalar_one() != self._fingerprint:
                    return False
                largest = conn.execute(
                    text("SELECT max(pg_total_relation_size(c.oid)) FROM pg_class c "
                         "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'")
                ).scalar_one()  # fmt: skip
                if largest > _LARGE:
                    return False
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # past the append-only triggers
                for table in self._tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
                    for row in self._rows[table]:
                        names = ", ".join(f'"{column}"' for column in row)
                        values = ", ".join(f":p{i}" for i in range(len(row)))
                        conn.execute(
                            text(f'INSERT INTO "{table}" ({names}) VALUES ({values})'),
                            {f"p{i}": value for i, value in enumerate(row.values())},
                        )
                for sequence in conn.execute(text("SELECT sequencename FROM pg_sequences "
                                                  "WHERE schemaname = 'public'")).scalars().all():  # fmt: skip
                    conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
                conn.commit()
        except Exception:  # a test left it in a state not worth understanding: drop it
            return False
        finally:
            engine.dispose()
        self._free.append(name)
        return True

    def _url(self, name: str) -> str:
        return self._admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _drop_all(self) -> None:
        if not self._free:
            return
        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in self._free:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def _rows(conn: Connection, table: str) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings()]
