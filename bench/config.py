"""What one run measures, and how long: the command line's options with their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class RunConfig:
    persons: int = 1000
    cases: int = 3000  # distinct (person, document) pairs, decided in the same order everywhere
    duration: float = 15.0  # seconds of each of the four measurements
    warmup: float = 1.0  # seconds of untimed HTTP traffic before each HTTP measurement
    concurrency: int = 16  # HTTP connections
    seed: int = 7
    max_calls: int = 5_000_000  # hard bound on the calls of any one measurement
    json_path: Path = RESULTS / "latest.json"
    keep: bool = False  # keep the work directory (database, server logs)
    quick: bool = False

    @classmethod
    def quick_defaults(cls) -> dict[str, Any]:
        return {"persons": 200, "cases": 600, "duration": 3.0, "warmup": 0.5}

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["json_path"] = str(self.json_path)
        return out
