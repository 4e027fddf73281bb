"""What one run measures, and how long: the command line's options with their defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Where measurements 8 and 9 create (and drop) their PostgreSQL databases; the tests' variable is honoured.
POSTGRES = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class RunConfig:
    persons: int = 1000
    cases: int = 3000  # distinct (person, document) pairs, decided in the same order everywhere
    duration: float = 15.0  # seconds of each of measurements 1 to 4
    warmup: float = 1.0  # seconds of untimed HTTP traffic before each HTTP measurement
    concurrency: int = 16  # HTTP connections
    release_duration: float = 10.0  # seconds of each of the document release and static file measurements
    big_mb: int = 200  # size of the large release (10^6 bytes); 0 leaves measurement 7 out
    log_seconds: float = 3.0  # seconds of each decision-log write configuration (8 of them with PostgreSQL)
    audit_rows: int = 1_000_000  # rows of the audit query log in PostgreSQL; 0 leaves measurement 9 out
    postgres: str | None = POSTGRES  # server URL for CREATE DATABASE; None: SQLite only
    seed: int = 7
    max_calls: int = 5_000_000  # hard bound on the calls of any one measurement
    json_path: Path = RESULTS / "latest.json"
    keep: bool = False  # keep the work directory (database, server logs)
    quick: bool = False

    @classmethod
    def quick_defaults(cls) -> dict[str, Any]:
        return {"persons": 200, "cases": 600, "duration": 3.0, "warmup": 0.5, "release_duration": 1.5,
                "log_seconds": 0.4, "audit_rows": 0}

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["json_path"] = str(self.json_path)
        if self.postgres:
            from sqlalchemy.engine import make_url

            out["postgres"] = make_url(self.postgres).render_as_string(hide_password=True)
        return out
