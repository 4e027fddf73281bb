"""/docs in Chromium with every request off this machine blocked: Swagger UI renders from the package's
assets, lists the operations, and its Authorize button takes a bearer token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.support import Site


def test_docs_page_renders_without_internet_and_offers_authorize(site: Site, page: Any, screenshots: Path) -> None:
    from playwright.sync_api import expect

    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(site.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("clearance-gateway")
    expect(page.locator(".opblock-summary-path", has_text="/access/v1/evaluation").first).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.locator(".auth-container")).to_contain_text("bearer")
    page.screenshot(path=str(screenshots / "api-docs-authorize.png"))
    assert outside == []
