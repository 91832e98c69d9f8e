"""The staff console in a real headless Chromium, on the local stack over real HTTP.

One story, set up through the same routes, webhooks, callbacks and uploads production uses (the demo's
helpers): Ana is lapsed; Lena is lapsed and has applied to recertify by CCP; Dana recertified by exam
(a Credly badge) and was then drawn for a CCP audit; Pat paid the wrong amount for an invoice, completed
an LMS course that is not in the catalog, and typed a hostile title for a self-reported activity.
Staff then work through the console with the keyboard and mouse, as a person would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from local.demo import Demo
from local.demo.ce import _post_statements, _statement
from local.demo.payments import post_stripe, stripe_event
from local.demo.recert import _draw_audit, _exam, _stripe_fee
from local.demo.self_report import ATTESTED
from local.stack import LocalStack

pytestmark = pytest.mark.e2e

HOSTILE_TITLE = '<script>window.pwned = 1</script>=HYPERLINK("http://evil.example","x")+@SUM(1)'
UNMAPPED_COURSE = "https://courses.example.org/ccp/wound-care"
EXCEPTION_PAYMENT = "pi_console_pat_short"
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOT_DIR")  # set to docs/ to refresh the README's pictures


def _member(first: str, last: str, member_id: str, certified_on: str) -> dict[str, Any]:
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{member_id}@example.org",
        "certifications": [{"credential": "RMA", "certified_on": certified_on}],
    }


def _noon(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T17:00:00").replace(tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[LocalStack, Demo, dict[str, str]]]:
    with LocalStack(
        env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", "CREDLY_BACKOFF_SECONDS": "0"}
    ) as stack:
        demo = Demo(stack.url, stripe_url=stack.fake_stripe.url)
        demo.daily("2026-03-02")
        for member_id, first, last, certified_on in (
            ("ana", "Ana", "Diaz", "2015-03-10"),
            ("lena", "Lena", "Okafor", "2017-06-01"),
            ("dana", "Dana", "Ruiz", "2015-04-12"),
            ("pat", "Pat", "Kim", "2025-01-10"),
        ):
            demo.call("PUT", f"/members/{member_id}", json=_member(first, last, member_id, certified_on))
        lena = demo.call(
            "POST", "/members/lena/recertifications", json={"credential": "RMA", "method": "ccp"}
        )
        dana = demo.call(
            "POST",
            "/members/dana/recertifications",
            json={
                "credential": "RMA",
                "method": "exam",
                "eligibility": {"work": [{"start": "2022-01-01", "full_time": True}]},
            },
        )
        dana_app = dana["application"]["application_id"]
        demo.daily("2026-04-20")
        _stripe_fee(demo, "dana", dana_app, 12500)
        _exam(demo, "dana", "RMA", "2026-04-18", "vendor-dana-1")
        demo.daily("2026-04-25")
        demo.call(
            "PUT",
            "/members/dana/activities/wound-care-day",
            json={
                "category": "professional_education",
                "title": "Wound care study day",
                "provider": "State society",
                "completed_on": "2026-04-24",
                "units": {"contact_hours": 3},
                "attestation": ATTESTED,
            },
        )
        audit_id = _draw_audit(demo, "dana", "RMA", "2026-05-02", 2026)
        demo.daily("2026-05-02")
        demo.call(
            "PUT",
            "/_local/uploads/evidence/dana/audit/wound-care-day/certificate.pdf",
            data=b"%PDF-1.7 console test",
            headers={"content-type": "application/pdf"},
        )
        short = {
            "id": EXCEPTION_PAYMENT,
            "object": "payment_intent",
            "amount": 1000,
            "amount_received": 1000,
            "currency": "usd",
            "created": _noon("2026-05-02"),
            "status": "succeeded",
            "metadata": {
                "member_id": "pat",
                "credential": "RMA",
                "purpose": "annual_fee",
                "invoices": "pat-RMA-2026",
            },
        }
        assert post_stripe(demo, stripe_event("payment_intent.succeeded", short))["result"] == "exception"
        verbs = ("launched", "initialized", "completed", "passed", "satisfied", "terminated")
        _post_statements(
            demo,
            [
                _statement(v, "pat", UNMAPPED_COURSE, f"2026-04-10T15:{i:02d}:00Z")
                for i, v in enumerate(verbs)
            ],
        )
        demo.call(
            "PUT",
            "/members/pat/activities/hostile-title",
            json={
                "category": "professional_education",
                "title": HOSTILE_TITLE,
                "provider": "=cmd|' /C calc'!A0",
                "completed_on": "2026-04-01",
                "units": {"contact_hours": 2},
                "attestation": ATTESTED,
            },
        )
        yield stack, demo, {"lena_app": lena["application"]["application_id"], "audit_id": audit_id}


@pytest.fixture
def console(story: tuple[LocalStack, Demo, dict[str, str]], browser: webdriver.Chrome) -> Iterator[Console]:
    return Console(story[0].url, browser)


class Console:
    """What a staff member does in the browser: open pages, fill forms, read answers."""

    def __init__(self, base: str, browser: webdriver.Chrome) -> None:
        self.base = base
        self.browser = browser

    def open(self, path: str) -> str:
        self.browser.get(f"{self.base}{path}")
        return self.main()

    def main(self) -> str:
        return self.browser.find_element(By.TAG_NAME, "main").text

    def submitted(self, element: WebElement) -> None:
        """Wait until the page holding ``element`` is gone and the form's answer has loaded (the old
        page going stale only says the navigation committed, not that the new one is parsed)."""
        wait = WebDriverWait(self.browser, 60)
        wait.until(staleness_of(element))
        wait.until(lambda browser: browser.execute_script("return document.readyState") == "complete")

    def find(self, query: str) -> str:
        self.open("/console")
        box = self.browser.find_element(By.ID, "q")
        box.send_keys(query, Keys.ENTER)
        self.submitted(box)
        return self.main()

    def card(self, queue: str, naming: str) -> WebElement:
        self.open(f"/console/queues/{queue}")
        cards = [c for c in self.browser.find_elements(By.CSS_SELECTOR, "section.card") if naming in c.text]
        assert len(cards) == 1, f"{naming!r} not once in the {queue} queue: {self.main()}"
        return cards[0]

    def act(self, card: WebElement, choice: str | None, fields: dict[str, str]) -> tuple[str, str]:
        """Fill the card's form, submit it, read the confirmation, confirm: (confirmation, answer)."""
        confirmation, yes = self.ask(card, choice, fields)
        return confirmation, self.confirm(yes)

    def ask(self, card: WebElement, choice: str | None, fields: dict[str, str]) -> tuple[str, WebElement]:
        """Fill the card's form and submit it: the confirmation and its "Yes, do it" button."""
        if choice is not None:
            radio = card.find_element(By.CSS_SELECTOR, f"input[type=radio][value={choice}]")
            card.find_element(By.CSS_SELECTOR, f"label[for={radio.get_attribute('id')}]").click()
        for name, value in fields.items():
            element = card.find_element(By.NAME, name)
            if element.tag_name == "select":
                Select(element).select_by_value(value)
            else:
                element.send_keys(value)
        submit = card.find_element(By.CSS_SELECTOR, "button[type=submit]")
        submit.click()
        self.submitted(submit)
        confirmation = self.browser.find_element(By.ID, "what-changes").text
        return confirmation, self.browser.find_element(By.XPATH, "//button[normalize-space()='Yes, do it']")

    def confirm(self, yes: WebElement) -> str:
        yes.click()
        self.submitted(yes)
        return self.main()

    def badge_states(self) -> list[str]:
        return [cell.text for cell in self.browser.find_elements(By.CSS_SELECTOR, "#badges td.badge-state")]

    def shot(self, name: str, tmp_path: Path) -> None:
        target = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
        path = target / name
        assert self.browser.save_screenshot(str(path)), path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_1_2_find_the_member_by_email_and_read_why_they_lapsed(console: Console, tmp_path: Path) -> None:
    page = console.find("ana@example.org")
    assert console.browser.current_url.endswith("/console/members/ana")
    assert "Ana Diaz" in page
    assert "RMA: lapsed" in page
    reasons = [li.text for li in console.browser.find_elements(By.CSS_SELECTOR, "ul.reasons li")]
    assert reasons == [
        "Lapsed: the CCP points of a cycle were not documented by the end of its late-reporting window."
    ]
    # the timeline, filtered to the transitions, says when
    Select(console.browser.find_element(By.ID, "kind")).select_by_value("transition")
    filter_button = console.browser.find_element(By.XPATH, "//button[normalize-space()='Filter']")
    filter_button.click()
    console.submitted(filter_button)
    kinds = {row.text for row in console.browser.find_elements(By.CSS_SELECTOR, "#timeline td:nth-child(2)")}
    assert kinds == {"transition"}
    assert "lapsed" in console.browser.find_element(By.ID, "timeline").text
    # by member id too; an unknown e-mail is answered in words
    assert "Ana Diaz" in console.find("ana")
    assert "no member has the e-mail" in console.find("nobody@example.org")
    console.open("/console/members/ana")
    console.shot("console-member.png", tmp_path)


def test_3_a_failed_audit_lapses_the_member_and_revokes_the_badge(
    console: Console, story: tuple[LocalStack, Demo, dict[str, str]], tmp_path: Path
) -> None:
    stack, _, ids = story
    console.open("/console/members/dana")
    assert "RMA: active" in console.main()
    assert console.badge_states() == ["pending"]
    card = console.card("audits", ids["audit_id"])
    assert "dana" in card.text
    evidence = card.find_element(By.XPATH, ".//tr[td[contains(., 'Wound care study day')]]/td[4]")
    assert evidence.text == "present"
    console.shot("console-queue-audits.png", tmp_path)
    confirmation, answer = console.act(card, "failed", {"reason": "CE log does not match the providers"})
    assert "FAILED" in confirmation
    assert "lapses today" in confirmation
    assert "badge" in confirmation
    assert f"Audit {ids['audit_id']} recorded as failed. The certification is now lapsed." in answer
    page = console.open("/console/members/dana")
    assert "RMA: lapsed" in page
    assert "Lapsed: a CCP audit of this certification failed." in page
    assert console.badge_states() == ["revoked"]
    assert stack.fake_credly is not None
    assert [b["state"] for b in stack.fake_credly.issued()] == ["revoked"]
    assert "No audit awaits a decision" in console.open("/console/queues/audits")


def test_4_approve_a_ccp_recertification_then_see_the_badge(
    console: Console, story: tuple[LocalStack, Demo, dict[str, str]]
) -> None:
    _, demo, ids = story
    app_id = ids["lena_app"]
    # too early: no points, no evidence - the 422 and its reason, in words
    _, refused = console.act(console.card("recertifications", app_id), "approved", {"reason": "ok"})
    assert "Refused: requirement_missing" in refused
    assert console.browser.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed()
    rows = [
        "member_id,activity_id,completed_on,points,category,certificate_id",
        "lena,https://acme.example.org/c/1,2026-02-01,30,professional_education,ACME-9",
    ]
    demo.call("PUT", "/_local/uploads/ce-batches/acme/2026-05.csv", data="\n".join(rows).encode())
    demo.call(
        "PUT",
        "/_local/uploads/evidence/lena/recertification/ce-log.pdf",
        data=b"%PDF-1.7 console test",
        headers={"content-type": "application/pdf"},
    )
    _stripe_fee(demo, "lena", app_id, 12500)
    confirmation, answer = console.act(
        console.card("recertifications", app_id), "approved", {"reason": "points and log checked"}
    )
    assert "APPROVED" in confirmation
    assert f"Application {app_id} approved: the certification is recertified" in answer
    page = console.open("/console/members/lena")
    assert "RMA: active" in page
    assert console.badge_states() == ["pending"]  # issued on Credly, awaiting the earner's acceptance


def test_5_resolve_a_payment_exception_and_a_second_resolution_is_refused_in_words(console: Console) -> None:
    # a second member of staff, in another tab, asks to refund the same exception and has not
    # confirmed yet when the first one credits it
    browser = console.browser
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    second = browser.current_window_handle
    late, late_yes = console.ask(
        console.card("payment-exceptions", EXCEPTION_PAYMENT), "refund", {"note": "refund it"}
    )
    assert "REFUND" in late
    browser.switch_to.window(first)
    page = console.open("/console/members/pat")
    assert "pat-RMA-2026" in page
    card = console.card("payment-exceptions", EXCEPTION_PAYMENT)
    assert "underpayment" in card.text
    confirmation, answer = console.act(card, "credit", {"note": "short payment accepted by the registrar"})
    assert "10.00 USD" in confirmation
    assert "CREDIT pat-RMA-2026" in confirmation
    assert f"Payment {EXCEPTION_PAYMENT} resolved: credit." in answer
    console.open("/console/members/pat")
    row = console.browser.find_element(By.XPATH, "//table[@id='invoices']//tr[td[1]='pat-RMA-2026']")
    assert row.find_elements(By.TAG_NAME, "td")[3].text == "paid"
    console.open("/console/queues/payment-exceptions")
    assert EXCEPTION_PAYMENT not in console.main()
    # the late confirmation: the route answers 409 already_resolved; the page says so in words, and
    # nothing changed (the invoice stays paid by the credit)
    browser.switch_to.window(second)
    refused = console.confirm(late_yes)
    assert "Refused: already_resolved" in refused
    assert "the payment exception is already resolved" in refused
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed()
    browser.close()
    browser.switch_to.window(first)
    console.open("/console/members/pat")
    row = console.browser.find_element(By.XPATH, "//table[@id='invoices']//tr[td[1]='pat-RMA-2026']")
    assert row.find_elements(By.TAG_NAME, "td")[3].text == "paid"


def test_6_map_an_unmapped_activity_then_see_the_points_land(console: Console) -> None:
    console.open("/console/members/pat")
    before = console.browser.find_element(By.CSS_SELECTOR, ".ccp-progress").text
    card = console.card("unmapped-activities", UNMAPPED_COURSE)
    assert "pat" in card.text
    confirmation, answer = console.act(
        card,
        None,
        {"title": "Wound care", "category": "professional_education", "points": "4", "provider_id": "acme"},
    )
    assert "1 completion(s) recorded while it was unmapped count from now on" in confirmation
    assert f"{UNMAPPED_COURSE} added to the catalog" in answer
    console.open("/console/members/pat")
    after = console.browser.find_element(By.CSS_SELECTOR, ".ccp-progress").text
    assert _earned(after) == _earned(before) + 4, (before, after)
    assert UNMAPPED_COURSE not in console.open("/console/queues/unmapped-activities")


def _earned(progress: str) -> float:
    return float(progress.split(" of ", 1)[0])


def test_a_typed_title_with_script_and_formula_characters_renders_as_text(console: Console) -> None:
    console.open("/console/members/pat")
    timeline = console.browser.find_element(By.ID, "timeline").text
    assert HOSTILE_TITLE in timeline
    assert console.browser.execute_script("return document.scripts.length") == 0
    assert console.browser.execute_script("return window.pwned === undefined") is True


def test_keyboard_only_search_and_readable_at_200_percent_zoom(console: Console) -> None:
    console.open("/console/")  # as the README gives it: the trailing slash too
    body = console.browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(5):
        if console.browser.switch_to.active_element.get_attribute("id") == "q":
            break
        console.browser.switch_to.active_element.send_keys(Keys.TAB)
    focused = console.browser.switch_to.active_element
    assert focused.get_attribute("id") == "q"
    assert console.browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Member id or e-mail"
    focused.send_keys("pat", Keys.ENTER)
    console.submitted(focused)
    assert "Pat Kim" in console.main()
    # 200 % zoom of a 1280 px wide window: 640 CSS pixels; nothing needs horizontal scrolling
    console.browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 640, "height": 800, "deviceScaleFactor": 2, "mobile": False},
    )
    try:
        for path in ("/console/members/pat", "/console/queues/unmapped-activities", "/console"):
            console.open(path)
            overflow = console.browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, overflow)
    finally:
        console.browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_pages_carry_a_strict_content_security_policy(story: tuple[LocalStack, Demo, dict[str, str]]) -> None:
    import requests

    response = requests.get(f"{story[0].url}/console/members/pat", timeout=30)
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy
