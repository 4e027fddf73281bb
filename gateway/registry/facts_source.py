"""The decision service's FactSource over the registry: driver errors become FactsUnavailable."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import SQLAlchemyError

from gateway.ports import FactsUnavailable
from gateway.registry.resolver import FactResolver
from gateway.registry.snapshot import RegistrySnapshot


class RegistryFacts:
    def __init__(self, resolver: FactResolver):
        self.resolver = resolver

    def fresh(self) -> RegistrySnapshot | None:
        return self.resolver.fresh()

    def current(self) -> RegistrySnapshot:
        try:
            return self.resolver.current()
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError) as exc:
            raise FactsUnavailable(f"the registry cannot be read: {type(exc).__name__}") from exc
