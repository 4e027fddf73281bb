"""The repository stands on its own: docs/ is linked and true, the OpenAPI reference is current, and
/docs works on a closed network (Swagger UI from the package, an Authorize button, every problem)."""

from __future__ import annotations

import json
import re

import pytest

from gateway.app import api_description
from tests.support import REPO, Gateway

OPENAPI = REPO / "docs" / "openapi.json"
PUBLIC = {"/healthz", "/readyz", "/metrics", "/.well-known/authzen-configuration"}
RULE_IDS = [*(f"D{i}" for i in range(1, 7)), *(f"C{i}" for i in range(1, 10)), "C5a",
            *(f"B{i}" for i in range(1, 5)), "N1", *(f"R{i}" for i in range(1, 5))]


def test_openapi_reference_in_docs_is_current() -> None:
    assert json.loads(OPENAPI.read_text(encoding="utf-8")) == api_description(), (
        "docs/openapi.json is stale: run `.venv/bin/clearance-gateway openapi --out docs/openapi.json`"
    )


def test_readme_links_docs_and_nothing_outside_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in ("docs/rules.md", "docs/api.md", "docs/bundle.md"):
        assert f"]({page})" in readme
    for path in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        links = re.findall(r"\]\(([^)]+)\)", path.read_text(encoding="utf-8"))
        for link in links:
            if link.startswith(("http://", "https://", "#")):
                continue
            target = (path.parent / link.split("#")[0]).resolve()
            assert target.is_relative_to(REPO) and target.exists(), f"{path.name} links {link}"


def test_rules_page_explains_every_rule_id() -> None:
    rules = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    missing = [rule for rule in RULE_IDS if f"**{rule} —" not in rules]
    assert missing == []


def test_every_protected_route_declares_the_bearer_scheme_and_its_problems() -> None:
    document = api_description()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in PUBLIC:
                assert "security" not in operation, (method, path)
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert {"400", "401", "403", "413", "422", "503"} <= set(operation["responses"]), (method, path)
            assert not re.search(r"\ba [aeiou]", operation.get("summary", "")), operation["summary"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_docs_page_loads_nothing_from_the_internet(gateway: Gateway) -> None:
    page = gateway.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    for source in sources:
        asset = gateway.client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 1000, source
    served = gateway.client.get("/openapi.json").json()
    assert served["components"]["securitySchemes"] == api_description()["components"]["securitySchemes"]
