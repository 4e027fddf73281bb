"""Exports of the decision log: CSV (flat, safe to open in a spreadsheet) and JSON Lines (the list's items).

Both encode chunks of items as they come (query.decision_chunks), so memory stays constant.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

import orjson


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


MEDIA_TYPES = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.jsonl: "application/x-ndjson"}

CSV_COLUMNS = (
    "decision_id",
    "logged_at",
    "evaluated_at",
    "caller_sub",
    "caller_client",
    "request_id",
    "channel",
    "person",
    "document",
    "action",
    "decision",
    "reason_codes",
    "reasons",
    "policy_version",
    "facts",
    "simulation",
    "latency_us",
)
# A cell a spreadsheet would read as a formula (OWASP "CSV injection"); tab and CR start one too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def csv_row(item: dict[str, Any]) -> list[str]:
    flat = {
        **item,
        "caller_sub": item["caller"]["sub"],
        "caller_client": item["caller"]["client"],
        "reason_codes": " ".join(r["code"] for r in item["reasons"]),
        "reasons": _json(item["reasons"]),
        "facts": _json(item["facts"]),
        "simulation": "true" if item["simulation"] else "false",
    }
    return [safe_cell("" if flat[c] is None else str(flat[c])) for c in CSV_COLUMNS]


def _csv_text(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def encode(fmt: ExportFormat, chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    """The export's bytes: a CSV header first; then one piece per chunk of items."""
    if fmt is ExportFormat.csv:
        yield _csv_text([list(CSV_COLUMNS)]).encode()
        for chunk in chunks:
            yield _csv_text(csv_row(item) for item in chunk).encode()
    else:
        for chunk in chunks:
            yield b"".join(orjson.dumps(item) + b"\n" for item in chunk)
