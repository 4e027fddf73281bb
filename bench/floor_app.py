"""The bare FastAPI floor: the same request parsed into a pydantic model, a constant answer.

Run as `uvicorn bench.floor_app:app`. It measures what FastAPI, pydantic and uvicorn cost on this
machine before any authentication, policy, registry or decision log work is done.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="bench floor", openapi_url=None, docs_url=None, redoc_url=None)
ANSWER = {"decision": False, "context": {"reasons": []}}


class Entity(BaseModel):
    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=256)
    properties: dict[str, Any] | None = None


class Action(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    properties: dict[str, Any] | None = None


class EvaluationRequest(BaseModel):
    subject: Entity
    resource: Entity
    action: Action
    context: dict[str, Any] | None = None


@app.post("/access/v1/evaluation")
async def evaluation(request: EvaluationRequest) -> dict[str, Any]:
    return ANSWER


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
