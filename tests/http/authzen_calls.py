"""Requests to the AuthZEN API as a PEP sends them, the AuthZEN JSON schemas, and the log rows they wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import func, select

from models import DecisionRecord
from tests.support import Gateway

AUTHZEN = Path(__file__).resolve().parents[1] / "authzen"
EVALUATION, EVALUATIONS = "/access/v1/evaluation", "/access/v1/evaluations"
ALLOW, DENY = ("P-OK", "D-ESI"), ("P-NOROSTER", "D-ESI")
T_SIM = "2030-06-01T09:00:00+09:00"


class Schemas:
    def __init__(self, directory: Path):
        def load(name: str) -> jsonschema.Draft202012Validator:
            schema = json.loads((directory / name).read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            return jsonschema.Draft202012Validator(schema)

        self.request = load("evaluation-request.schema.json")
        self.response = load("evaluation-response.schema.json")


def ask(person: str = "P-OK", document: str = "D-ESI", action: str = "read", **extra: Any) -> dict[str, Any]:
    return {
        "subject": {"type": "person", "id": person},
        "resource": {"type": "document", "id": document},
        "action": {"name": action},
        **extra,
    }


def post(
    gw: Gateway, path: str, body: Any = None, *scopes: str, content: Any = None, headers: dict[str, str] | None = None
) -> Any:
    auth = gw.keys.auth(*(scopes or ("authz:evaluate",)))
    if content is not None:
        return gw.client.post(
            path, content=content, headers={**auth, "Content-Type": "application/json", **(headers or {})}
        )
    return gw.client.post(path, json=body, headers={**auth, **(headers or {})})


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["context"]["reasons"]]


def logged(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one()


def log_rows(gw: Gateway, decision_ids: list[str]) -> dict[str, Any]:
    table = DecisionRecord.__table__
    with gw.container.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.decision_id.in_(decision_ids))).mappings().all()
    return {row["decision_id"]: row for row in rows}
