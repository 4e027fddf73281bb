"""A real gateway on 127.0.0.1 (uvicorn in a thread, SQLite in a temp dir, the rules registry and a few
decisions) and Debian's Chromium driven by Playwright. Without Chromium the browser tests skip, saying
why; under CI=true they fail instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, DECISIONS, LAPTOP, SCREENSHOTS, Site, serving
from tests.rules_registry import rules_bundle
from tests.support import IN_CI, Clock, Keys, fresh_database, running_gateway


@pytest.fixture
def site(tmp_path: Path, keys: Keys) -> Iterator[Site]:
    with (
        fresh_database("sqlite", tmp_path) as url,
        running_gateway(url, tmp_path, keys, Clock()) as gw,
    ):
        gw.import_bundle(rules_bundle())
        for person, document, at in DECISIONS:
            gw.evaluate(person, document, at=at)
        with serving(gw.client.app) as base:
            yield Site(gw, base, Path(url.removeprefix("sqlite:///")))


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; under CI=true the browser tests must run", pytrace=False)
    pytest.skip(f"{reason} (apt-get install chromium; under CI=true this is a failure)")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Per test: Playwright's sync API holds an event loop on the main thread while it runs, which
    would break later tests that call asyncio.run()."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright for Python is not installed ({exc})")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            _unavailable(f"Chromium cannot be launched from {CHROMIUM}: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
