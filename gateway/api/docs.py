"""The API's own description: the OpenAPI document and /docs, Swagger UI served from the installed package.

Many organs' networks are closed, so the page loads nothing from the internet: its script and style
come from fastapi-offline's copy of swagger-ui-dist. The document declares the bearer scheme (the
page's Authorize button) and the problems every protected route may answer.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
PUBLIC = {"/healthz", "/readyz", "/metrics", "/.well-known/authzen-configuration"}
PROBLEMS = {
    "400": "The request's shape is wrong: `errors` names each bad field by JSON pointer",
    "401": "No bearer token, or one that fails verification",
    "403": "The token lacks the scope this call needs",
    "413": "The body is larger than this route's limit",
    "422": "Well-formed data that a rule refuses: `errors` names each field",
    "503": "The registry cannot be read or the decision cannot be logged: nothing was decided or released",
}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "examples": ["/persons/2/organ_id"]},
                    "path": {"type": "string", "examples": ["$.persons[2].organ_id"]},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT from a configured issuer; its `scope` claim names what the caller may do "
    "(`authz:evaluate`, `authz:simulate`, `documents:read`, `registry:admin`, `policy:admin`, `audit:read`).",
}


def install(app: FastAPI) -> None:
    """Serve /docs and its assets from the package, and describe the API as `openapi_document` does."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema["paths"].items():
        if path in PUBLIC:
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            if responses.get("422", {}).get("description") == "Validation Error":
                del responses["422"]  # FastAPI's default; the gateway answers shape errors with 400
            for status, what in PROBLEMS.items():
                responses.setdefault(
                    status,
                    {
                        "description": what,
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                )
    text = repr(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            components["schemas"].pop(unused, None)
    return schema
