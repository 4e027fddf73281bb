"""The auditors' access review page (/audit/access) in Chromium: a designation's review, what a person
may read, a past day, bad input; and C9 (no assessment details for an auditor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.support import Site


def _sign_in(site: Site, page: Any) -> None:
    page.goto(site.url + "/audit/signin")
    page.get_by_label("Audit token").fill(site.token("audit:read", sub="auditor-1"))
    page.get_by_role("button", name="Sign in").click()


def _first_column(page: Any, table: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#{table} tbody th").all_inner_texts()]


def test_an_auditor_reviews_a_designation_and_a_person(site: Site, page: Any, screenshots: Path) -> None:
    from playwright.sync_api import expect

    # The clock of the test gateway stands at 2026-06-01 (tests/support.py); a suspension made now.
    response = site.gateway.client.post(
        "/v1/admin/assessments/A-SUSP/reinstate", headers=site.gateway.keys.auth("registry:admin")
    )
    assert response.status_code == 200, response.text
    _sign_in(site, page)
    page.get_by_role("link", name="Access review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access review")

    # 1. A designation, a year and more ahead.
    page.get_by_label("Designation or document").fill("G-ESI")
    page.get_by_label("Losses within (days)").fill("400")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review-summary")).to_contain_text("in force on 2026-06-01")
    may_read = _first_column(page, "may-read")
    assert "P-OK" in may_read and "P-SUSP" in may_read  # reinstated a moment ago
    may_not = page.locator("#may-not tbody tr", has_text="P-REV")
    expect(may_not).to_contain_text("clearance_revoked")
    losing = page.locator("#losing tbody tr", has_text="C-OK")
    expect(losing).to_contain_text("2027-07-01")
    expect(losing).to_contain_text("contract_not_in_force")
    # C9: an auditor reads the codes, never an assessment's details
    assert "notified" not in page.locator("#may-not").inner_text()
    page.screenshot(path=str(screenshots / "access-01-review.png"), full_page=True)

    # 2. The same designation on a past day: the registry as it stood at that day's end.
    page.get_by_label("As at", exact=True).fill("2026-05-31")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review-summary")).to_contain_text("on 2026-05-31")
    assert "P-SUSP" not in _first_column(page, "may-read")  # still suspended then
    expect(page.locator("#may-not tbody tr", has_text="P-SUSP")).to_contain_text("clearance_suspended")

    # 3. What a person may read.
    page.get_by_label("Designation or document").fill("")
    page.get_by_label("As at", exact=True).fill("")
    page.get_by_label("or Person").fill("P-OK")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="What P-OK may read")).to_be_visible()
    assert _first_column(page, "may-read") == ["(unclassified documents)", "G-ESI"]
    expect(page.locator("#may-not tbody tr", has_text="G-CAN")).to_contain_text("designation_not_in_force")
    page.screenshot(path=str(screenshots / "access-02-person.png"), full_page=True)

    # 4. Bad input is named, by the field's label; an unknown designation says so.
    page.get_by_label("or Person").fill("")
    page.get_by_label("Designation or document").fill("G-ESI")
    page.get_by_label("Losses within (days)").fill("soon")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("alert")).to_contain_text("Losses within (days): a number of days")
    page.get_by_label("Losses within (days)").fill("30")
    page.get_by_label("Designation or document").fill("G-NOPE")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("alert")).to_contain_text("No designation or document G-NOPE in the registry")


def test_the_page_needs_an_auditors_session(site: Site) -> None:
    response = site.gateway.client.get("/audit/access?target=G-ESI", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/audit/signin")
