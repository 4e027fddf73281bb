"""The auditors' pages (/audit/): an auditor's walk through them in Chromium, and the same pages seen by a
plain HTTP client (no session, a wrong token, a form from elsewhere, bad filters, the headers)."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.export import CSV_COLUMNS
from gateway.web import pages
from tests.browser.support import DECISIONS, Site
from tests.rules_registry import rules_bundle
from tests.support import Gateway

CSP = "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
SECURITY_HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY", "content-security-policy": CSP}
PAGES = [
    "/audit/",
    "/audit/?person=P-OK",
    "/audit/export",
    "/audit/export/decisions?format=csv",
    "/audit/verify",
    "/audit/reports/annual?year=2025",
    "/audit/signout",
]
LEAP_NOTIFIED = "2028-02-29"  # A-LEAP's notified_on: in the decision's raw inputs, never on a page (C9)


# --- in the browser ------------------------------------------------------------------------------


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _rows(page: Any) -> Any:
    return page.locator("table.decisions tbody tr")


def test_an_auditor_signs_in_reads_exports_verifies_and_reports(site: Site, page: Any, screenshots: Path) -> None:
    from playwright.sync_api import expect

    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    # 1. Sign-in: a registry:admin token is refused, and never shown back.
    page.goto(site.url + "/audit/")
    expect(page).to_have_url(site.url + "/audit/signin")
    admin = site.token("registry:admin", sub="admin-1")
    page.get_by_label("Audit token").fill(admin)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("audit:read")
    assert admin not in page.content()
    expect(page.get_by_label("Audit token")).to_have_value("")
    _shot(page, screenshots, "step-01-signin-refused")

    # 2. An audit token opens the decisions, newest first.
    page.get_by_label("Audit token").fill(site.token("audit:read", sub="auditor-1"))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.url + "/audit/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Decisions")
    expect(page.locator(".who")).to_contain_text("auditor-1")
    expect(_rows(page)).to_have_count(len(DECISIONS))
    expect(page.locator("#results-summary")).to_contain_text(f"of {len(DECISIONS)} decisions")
    _shot(page, screenshots, "step-02-decisions")

    # 3. Filter by person.
    own = sum(1 for person, _, _ in DECISIONS if person == "P-OK")
    page.get_by_label("Person").fill("P-OK")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"person=P-OK"))
    expect(_rows(page)).to_have_count(own)
    for text in _rows(page).locator("td:nth-child(2)").all_inner_texts():
        assert text == "P-OK"
    expect(page.locator(".badge-allow").first).to_contain_text("Allow")
    expect(page.locator(".badge-deny").first).to_contain_text("Deny")
    _shot(page, screenshots, "step-03-filtered-by-person")

    # 4. One decision: its reasons and the ids of its facts, never the assessment's content (C9).
    page.get_by_label("Person").fill("P-LEAP")
    page.get_by_role("button", name="Apply filters").click()
    expect(_rows(page)).to_have_count(1)
    _rows(page).first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Decision")
    expect(page.locator("body")).to_contain_text("designation_not_in_force")
    expect(page.locator("body")).to_contain_text("G-LEAP")  # the reason's message names the designation
    facts = page.locator("table.facts")
    expect(facts).to_contain_text("designation")
    expect(facts).to_contain_text("G-LEAP")
    decision_id = page.url.split("/audit/decisions/")[1].split("?")[0]
    assert LEAP_NOTIFIED in _raw_inputs(site.database, decision_id)  # the log holds it, so the check can fail
    assert LEAP_NOTIFIED not in page.content()
    _shot(page, screenshots, "step-04-decision")
    page.get_by_role("link", name="Back to the decisions").click()
    expect(page).to_have_url(re.compile(r"/audit/\?person=P-LEAP$"))

    # 5. Export the current filters as CSV, through the page.
    page.get_by_label("Person").fill("P-OK")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("link", name="Export these decisions").click()
    expect(page.locator("#export-count")).to_contain_text(f"{own} decisions match")
    _shot(page, screenshots, "step-05-export")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 1 + own
    assert {row[CSV_COLUMNS.index("person")] for row in rows[1:]} == {"P-OK"}

    # 6. Verify: the chains hold.
    page.get_by_role("link", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("OK")
    expect(page.get_by_role("status")).to_contain_text("entries verify")
    expect(page.locator("tr", has_text="decisions").locator("td").first).to_have_text(str(len(DECISIONS)))
    _shot(page, screenshots, "step-06-verify-ok")

    # 7. Someone with the database file rewrites a decision: verify names the first bad entry.
    with sqlite3.connect(site.database) as db:
        db.execute("DROP TRIGGER decisions_no_update")
        db.execute("UPDATE decisions SET allowed = NOT allowed WHERE chain_index = 3")
    page.reload()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Tampering detected")
    expect(alert).to_contain_text("decisions log, entry 3")
    expect(alert).to_contain_text("content altered")
    _shot(page, screenshots, "step-07-verify-tampered")

    # 8. The annual report: the table of rule R3 and its chart.
    page.get_by_role("link", name="Annual report").click()
    page.get_by_label("Calendar year").fill("2025")
    page.get_by_role("button", name="Show the year").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annual report 2025")
    esi = page.locator("#report-table-esi")  # R3: each Act apart
    expect(esi.locator("tbody th[scope=row]")).to_have_count(2)
    expect(esi.locator("tbody tr", has_text="METI").locator("td").nth(0)).to_have_text("2")  # G-ESI, G-CAN
    sds = page.locator("#report-table-sds")
    expect(sds.locator("tbody tr", has_text="METI").locator("td").nth(0)).to_have_text("1")  # G-SDS
    chart = page.locator("svg#annual-chart")
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("title")).to_have_text("Designations and assessments per Act and organ, 2025")
    expect(chart.locator("rect.bar-made")).to_have_count(3)  # ESI · METI, SDS · METI, SDS · MOD
    expect(chart).to_contain_text("Ministry of Economy, Trade and Industry")
    _shot(page, screenshots, "step-08-annual-report")

    # 9. Sign out: the session is gone.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(site.url + "/audit/signin?m=signed-out")
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(site.url + "/audit/verify")
    expect(page).to_have_url(site.url + "/audit/signin")
    _shot(page, screenshots, "step-09-signed-out")
    assert not [text for text in console if "Content Security Policy" in text], console  # no inline style or script


def _raw_inputs(database: Path, decision_id: str) -> str:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT inputs FROM decisions WHERE decision_id = ?", (decision_id,)).fetchone()
    return str(row[0])


# --- with a plain HTTP client --------------------------------------------------------------------


def _sign_in(gw: Gateway, *scopes: str, **claims: Any) -> Any:
    token = gw.keys.token(*scopes, **claims)
    return gw.client.post(
        "/audit/signin", data={"token": token}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )


def _headers_ok(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)


@pytest.mark.parametrize("path", [*PAGES, "/audit/export/decisions?format=xml", "/audit/decisions/ANY"])
def test_without_a_session_every_page_sends_you_to_sign_in(gateway: Gateway, path: str) -> None:
    response = gateway.client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/audit/signin"
    _headers_ok(response)


def test_every_page_sends_the_security_headers(gateway: Gateway) -> None:
    signin = gateway.client.get("/audit/signin")
    assert signin.status_code == 200 and 'lang="en"' in signin.text
    _headers_ok(signin)
    assert _sign_in(gateway, "audit:read").status_code == 303
    for path in PAGES:
        response = gateway.client.get(path, follow_redirects=False)
        assert response.status_code == 200, (path, response.text)
        _headers_ok(response)
    css = gateway.client.get("/audit/static/audit.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert gateway.client.get("/audit/static/nothing.css").status_code == 404


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(gateway: Gateway) -> None:
    plain = _sign_in(gateway, "audit:read")
    assert plain.headers["location"] == "/audit/"
    cookie = plain.headers["set-cookie"]
    assert cookie.startswith("cg_audit=") and "HttpOnly" in cookie and "Path=/audit" in cookie
    assert "samesite=strict" in cookie.lower() and "Secure" not in cookie
    secure = gateway.client.post(
        "https://testserver/audit/signin",
        data={"token": gateway.keys.token("audit:read")},
        headers={"Origin": "https://testserver"},
        follow_redirects=False,
    )
    assert secure.status_code == 303 and "Secure" in secure.headers["set-cookie"]


def test_an_admin_token_is_refused_at_sign_in_and_in_a_cookie(gateway: Gateway) -> None:
    admin = gateway.keys.token("registry:admin")
    refused = gateway.client.post(
        "/audit/signin", data={"token": admin}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "audit:read" in refused.text and admin not in refused.text
    assert "set-cookie" not in refused.headers
    response = gateway.client.get("/audit/", headers={"Cookie": f"cg_audit={admin}"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/audit/signin?m=scope"
    assert 'cg_audit=""' in response.headers["set-cookie"]  # the refused cookie is cleared
    assert "does not carry the scope audit:read" in gateway.client.get("/audit/signin?m=scope").text


def test_a_bad_or_expired_token_is_told_apart(gateway: Gateway) -> None:
    forged = gateway.client.post(
        "/audit/signin", data={"token": "not.a.jwt"}, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert forged.status_code == 401 and "not.a.jwt" not in forged.text
    old = gateway.keys.token("audit:read", lifetime=-120)
    expired = gateway.client.get("/audit/verify", headers={"Cookie": f"cg_audit={old}"}, follow_redirects=False)
    assert expired.headers["location"] == "/audit/signin?m=expired"
    assert "the audit token expired" in gateway.client.get(expired.headers["location"]).text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/audit/signin"}],
)
def test_sign_in_and_out_only_from_the_gateways_own_pages(gateway: Gateway, headers: dict[str, str]) -> None:
    token = gateway.keys.token("audit:read")
    refused = gateway.client.post("/audit/signin", data={"token": token}, headers=headers, follow_redirects=False)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    _sign_in(gateway, "audit:read")
    out = gateway.client.post("/audit/signout", headers=headers, follow_redirects=False)
    assert out.status_code == 403 and "set-cookie" not in out.headers
    same = {"Referer": "http://testserver/audit/"}
    out = gateway.client.post("/audit/signout", headers=same, follow_redirects=False)
    assert out.headers["location"] == "/audit/signin?m=signed-out" and 'cg_audit=""' in out.headers["set-cookie"]


def test_filters_are_checked_as_the_api_checks_them_and_read_in_japan_time(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    for person, document, at in DECISIONS:  # logged at the clock's 2026-06-01T03:00Z, 12:00 in Japan
        gateway.evaluate(person, document, at=at)
    gateway.clock.set("2026-06-01T04:00:00+00:00")
    gateway.evaluate("P-OK", "D-ESI")
    auth = gateway.keys.auth("audit:read")
    _sign_in(gateway, "audit:read")
    for bad in ("decision=maybe", "reason=no_such_code", "simulation=perhaps", "since=yesterday"):
        api = gateway.client.get(f"/v1/audit/decisions?{bad}", headers=auth).json()
        page = gateway.client.get(f"/audit/?{bad}")
        assert page.status_code == 400
        for error in api["errors"]:
            assert error["detail"].replace("'", "&#39;") in page.text, (bad, error)
    window = gateway.client.get("/audit/?since=2026-06-01T12:00&until=2026-06-01T12:30")
    api = gateway.client.get(
        "/v1/audit/decisions?since=2026-06-01T12:00%2B09:00&until=2026-06-01T12:30%2B09:00", headers=auth
    ).json()
    assert len(api["items"]) == len(DECISIONS)  # not the one logged at 13:00 in Japan
    assert f"of {len(DECISIONS)} decisions" in window.text
    backwards = gateway.client.get("/audit/?since=2026-06-02T00:00&until=2026-06-01T00:00")
    assert backwards.status_code == 400 and "until must be later than since" in backwards.text
    assert gateway.client.get("/audit/decisions/NOPE").status_code == 404


def test_pages_follow_the_apis_cursor(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 3)
    for document in ("D-ESI", "D-SDS", "D-CAN", "D-PUB", "D-FUT"):
        gateway.evaluate("P-OK", document)
    gateway.evaluate("P-NONE", "D-ESI")
    _sign_in(gateway, "audit:read")
    first = gateway.client.get("/audit/?person=P-OK")
    assert first.text.count("<tr>") == 1 + 3 and "of 5 decisions" in first.text and "First page" not in first.text
    cursor = re.search(r'href="/audit/\?person=P-OK&amp;cursor=([^"]+)" rel="next"', first.text)
    assert cursor is not None
    second = gateway.client.get(f"/audit/?person=P-OK&cursor={cursor[1]}")
    assert second.text.count("<tr>") == 1 + 2 and "Next page" not in second.text
    assert 'href="/audit/?person=P-OK">First page' in second.text
    other = gateway.client.get(f"/audit/?person=P-NONE&cursor={cursor[1]}")
    assert other.status_code == 400 and "Page: the cursor belongs to a query with other filters" in other.text


def test_everything_shown_is_escaped(gateway: Gateway) -> None:
    _sign_in(gateway, "audit:read")
    page = gateway.client.get("/audit/", params={"person": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
