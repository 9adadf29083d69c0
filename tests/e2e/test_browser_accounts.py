"""Accounts in a real browser: sign up, apply for verification, admin approval and the badges,
the language switch, a form error re-rendered in place, and the home page on a phone."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from fieldcast.i18n import translations
from tests.e2e.conftest import ADMIN, NewContext
from tests.factories import PASSWORD, id_number

pytestmark = pytest.mark.e2e

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_HEADING = "Live selling for public welfare"


def _zh(msgid: str) -> str:
    """What a zh-CN page shows for `msgid` (the English msgid itself while it is untranslated)."""
    return translations("zh-CN").gettext(msgid)


def _my_verification_statuses(page: Page) -> list[str]:
    """The raw statuses from the API, with the page's session cookie: the state behind the page."""
    response = page.request.get("/api/v1/me/verifications")
    assert response.status == 200, response.text()
    return [v["status"] for v in response.json()]


def _submit(page: Page, action: str) -> None:
    page.locator(f"form[action='{action}'] [type=submit]").click()


def _sign_up(page: Page, email: str, display_name: str, password: str) -> None:
    page.goto("/signup")
    page.locator("#f-email").fill(email)
    page.locator("#f-display_name").fill(display_name)
    page.locator("#f-password").fill(password)
    _submit(page, "/signup")


def test_host_signs_up_applies_and_shows_badges_after_admin_approval(new_context: NewContext) -> None:
    suffix = secrets.token_hex(3)
    name = f"县长{suffix}"

    host = new_context().new_page()
    _sign_up(host, f"host-{suffix}@e2e.example.com", name, PASSWORD)
    expect(host).to_have_url(re.compile(r"/account$"))

    host.get_by_test_id("apply-link").click()
    expect(host).to_have_url(re.compile(r"/account/verification$"))
    host.locator("#f-legal_name").fill("王建国")
    host.locator("#f-id_number").fill(id_number(901))
    host.locator("#f-host_kind").select_option("official")
    host.locator("#f-position_title").fill("副县长")
    host.locator("#f-jurisdiction").fill("吉林省白山市靖宇县")
    host.locator("#f-evidence_note").fill("县政府官网公示的任命文件，县政府办公室电话可查。")
    _submit(host, "/account/verification")
    expect(host).to_have_url(re.compile(r"/account$"))
    expect(host.get_by_test_id("verification-status")).to_have_text(_zh("Waiting for review"))
    assert _my_verification_statuses(host) == ["pending"]
    expect(host.get_by_test_id("badge-verified")).to_have_count(0)

    admin = new_context().new_page()
    admin.goto("/signin")
    admin.locator("#f-email").fill(ADMIN.email)
    admin.locator("#f-password").fill(ADMIN.password)
    _submit(admin, "/signin")
    expect(admin.get_by_test_id("nav-account")).to_be_visible()
    admin.goto("/admin/verifications")
    request = admin.locator("[data-testid^='request-']").filter(has_text=name)
    expect(request).to_have_count(1)
    request.locator("[data-testid^='approve-']").click()
    expect(admin).to_have_url(re.compile(r"/admin/verifications$"))
    expect(request).to_have_count(0)  # no longer pending

    host.reload()
    expect(host.get_by_test_id("badge-verified")).to_be_visible()
    expect(host.get_by_test_id("badge-official")).to_be_visible()
    expect(host.get_by_test_id("verification-status")).to_have_text(_zh("Approved"))
    assert _my_verification_statuses(host) == ["approved"]

    host.goto("/hosts")
    card = host.get_by_test_id("host-card").filter(has_text=name)
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("badge-verified")).to_be_visible()
    expect(card.get_by_test_id("badge-official")).to_be_visible()


def test_language_switch_moves_between_chinese_and_english(new_context: NewContext) -> None:
    page = new_context(locale="zh-CN").new_page()
    html, heading = page.locator("html"), page.locator("main h1")

    page.goto("/")
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(heading).to_have_text(CJK)

    page.get_by_test_id("lang-en").click()
    expect(html).to_have_attribute("lang", "en")
    expect(heading).to_have_text(ENGLISH_HEADING)

    page.get_by_test_id("lang-zh").click()
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(heading).to_have_text(CJK)


def test_sign_up_with_short_password_rerenders_form_with_message(new_context: NewContext) -> None:
    page = new_context().new_page()
    email = f"short-{secrets.token_hex(3)}@e2e.example.com"
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/signup")) as posted:
        _sign_up(page, email, "短密码", "abc")

    assert posted.value.status == 422
    expect(page.get_by_test_id("error-password")).to_be_visible()
    expect(page.locator("#f-email")).to_have_value(email)
    expect(page.locator("#f-display_name")).to_have_value("短密码")
    expect(page.locator("#f-password")).to_have_value("")  # a secret is never echoed back


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_home_page_fits_a_phone_screen(new_context: NewContext, locale: str) -> None:
    page = new_context(locale=locale, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True).new_page()
    page.goto("/")
    expect(page.locator("main h1")).to_be_visible()
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    scroll_width, inner_width = widths
    assert scroll_width <= inner_width, f"home page is {scroll_width}px wide on a {inner_width}px phone screen"
