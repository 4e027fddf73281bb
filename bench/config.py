"""What one run measures, and how long: the command line's options with their defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Where measurements 13 and 14 create (and drop) their PostgreSQL databases; the tests' variable is honoured.
POSTGRES = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class RunConfig:
    persons: int = 1000
    cases: int = 3000  # distinct (person, document) pairs, decided in the same order everywhere
    duration: float = 15.0  # seconds of each of measurements 1 to 8 and 15 and of each size of 12
    warmup: float = 1.0  # seconds of untimed HTTP traffic before each closed-loop HTTP measurement
    concurrency: int = 16  # HTTP connections
    paced_fraction: float = 0.8  # measurement 6: open loop at this fraction of 5's rate; 0 leaves it out
    batch_size: int = 100  # evaluations in one batch request (7) and one cedarpy batch call (4); 0: neither
    batch_concurrency: int = 4  # HTTP connections of measurement 7
    release_duration: float = 10.0  # seconds of each of the document release and static file measurements
    big_mb: int = 200  # size of the large release (10^6 bytes); 0 leaves measurement 11 out
    sizes: tuple[int, ...] = (1_000, 100_000)  # persons in the registries of measurement 12; () leaves it out
    size_designations: int = 10_000  # designations in each of them
    log_seconds: float = 3.0  # seconds of each decision-log write configuration (8 of them with PostgreSQL)
    workers: int = 2  # measurement 15: 5 again on this many worker processes; 0 or 1 leaves it out
    audit_rows: int = 1_000_000  # rows of the audit query log in PostgreSQL; 0 leaves measurement 14 out
    postgres: str | None = POSTGRES  # server URL for CREATE DATABASE; None: SQLite only
    seed: int = 7
    max_calls: int = 5_000_000  # hard bound on the calls of any one measurement
    json_path: Path | None = None  # None: RESULTS/<started at>.json, and a copy as RESULTS/latest.json
    keep: bool = False  # keep the work directory (database, server logs)
    quick: bool = False

    @classmethod
    def quick_defaults(cls) -> dict[str, Any]:
        return {"persons": 200, "cases": 600, "duration": 2.0, "warmup": 0.5, "release_duration": 1.5,
                "big_mb": 100, "sizes": (1_000, 10_000), "size_designations": 1_000, "log_seconds": 0.4,
                "audit_rows": 0}

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["json_path"] = None if self.json_path is None else str(self.json_path)
        out["sizes"] = list(self.sizes)
        if self.postgres:
            from sqlalchemy.engine import make_url

            out["postgres"] = make_url(self.postgres).render_as_string(hide_password=True)
        return out
