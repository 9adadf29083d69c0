"""The site header on a phone and a desktop, signed in, in both languages; and the lucky-draw
check page recomputing the server's winners in the browser (Web Crypto)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import ADMIN, NewContext
from tests.e2e.shows import (
    Offer,
    ScheduledShow,
    api,
    inspection_authority,
    ok,
    person,
    schedule_show,
    sign_up,
    with_csrf,
)
from tests.factories import inspection_body

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 780}

# For every visible label in the header: how many lines its text takes (distinct line tops).
LABEL_LINES = """() => [...document.querySelectorAll(
    ".site-nav a, .site-nav summary, .site-nav button")].filter((el) => el.getClientRects().length > 0)
  .map((el) => {
    const text = [...el.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!text) return [el.textContent.trim(), 1];
    const range = document.createRange();
    range.selectNodeContents(text);
    const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
    return [text.textContent.trim(), tops.size];
  })"""


def _sign_in(page: Page) -> None:
    page.goto("/signin")
    page.locator("#f-email").fill(ADMIN.email)
    page.locator("#f-password").fill(ADMIN.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page.get_by_test_id("nav-menu")).to_be_attached()


def _fits(page: Page, width: int) -> None:
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width}px wide on a {width}px screen"
    lines = page.evaluate(LABEL_LINES)
    assert lines, "no header labels found"
    wrapped = [label for label, n in lines if n != 1]
    assert not wrapped, f"header labels wrap: {wrapped}"


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_header_fits_a_360px_phone_signed_in(new_context: NewContext, locale: str) -> None:
    page = new_context(locale=locale, viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    _sign_in(page)
    for path in ("/", "/products", "/account"):
        page.goto(path)
        menu = page.get_by_test_id("nav-menu")
        expect(menu).to_be_visible()
        expect(page.get_by_test_id("nav-account")).to_be_hidden()  # in the closed menu
        _fits(page, PHONE["width"])
        menu.click()
        expect(page.get_by_test_id("nav-account")).to_be_visible()
        expect(page.get_by_test_id("lang-en" if locale == "zh-CN" else "lang-zh")).to_be_visible()
        _fits(page, PHONE["width"])
        box = page.locator(".nav-more > ul").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_on_a_desktop_every_header_link_shows_in_line(new_context: NewContext) -> None:
    page = new_context(locale="en-US", viewport={"width": 1280, "height": 800}).new_page()
    _sign_in(page)
    expect(page.get_by_test_id("nav-menu")).to_be_hidden()
    for testid in ("nav-live", "nav-products", "nav-cart", "nav-orders", "nav-account", "lang-zh"):
        expect(page.get_by_test_id(testid)).to_be_visible()
    _fits(page, 1280)


def test_the_language_switch_keeps_the_search(new_context: NewContext) -> None:
    page = new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.goto("/products?q=%E8%93%9D%E8%8E%93&province=220000")
    page.get_by_test_id("nav-menu").click()
    page.get_by_test_id("lang-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url.endswith("/products?q=%E8%93%9D%E8%8E%93&province=220000")
    expect(page.locator("#q")).to_have_value("蓝莓")
    expect(page.get_by_test_id("filter-province")).to_have_value("220000")


def _live_show(base_url: str, suffix: str) -> ScheduledShow:
    """A show its host has started, selling one product."""
    sku = {"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100}
    offer = Offer("验奖合作社", "验奖供货", "靖宇蓝莓 5斤装", "野生蓝莓", sku, "验奖直播", 7900)
    show = schedule_show(base_url, "words-", suffix, offer)
    with api(base_url) as host_api:
        ok(host_api.post("/api/v1/auth/signin", json={"email": show.host.email, "password": show.host.password}))
        with_csrf(host_api)
        ok(host_api.post(f"/api/v1/sessions/{show.session_id}/start"))
    return show


@pytest.mark.parametrize(("locale", "name"), [("zh-CN", "绝对化用语"), ("en-US", "Absolute term")])
def test_a_hosts_claim_warning_names_the_rule_not_its_code(
    new_context: NewContext, live_server: str, locale: str, name: str
) -> None:
    show = _live_show(live_server, secrets.token_hex(3))
    page = new_context(locale=locale).new_page()
    page.goto(f"/signin?next=/live/{show.session_id}")
    page.locator("#f-email").fill(show.host.email)
    page.locator("#f-password").fill(show.host.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    # The page is everyone's; that this viewer is a host (so lines are checked before sending)
    # arrives with /me. A line sent before that is checked only after posting (a busy machine
    # can take longer than a person's first keystrokes).
    expect(page.locator("#chat .chat-form[data-claims-check]")).to_have_count(1)
    page.get_by_test_id("chat-input").fill("全网最好的蓝莓")
    page.get_by_test_id("chat-send").click()
    warnings = page.get_by_test_id("chat-warnings")
    expect(warnings).to_contain_text(name)
    assert "absolute_term" not in (warnings.text_content() or "")
    # Checked before sending: the line is held back until the host presses Send again.
    expect(warnings).to_contain_text("尚未发送" if locale == "zh-CN" else "Not sent yet")
    mine = page.get_by_test_id("chat-list").get_by_test_id("chat-message").filter(has_text="全网最好的蓝莓")
    expect(page.get_by_test_id("chat-input")).to_have_value("全网最好的蓝莓")
    expect(mine).to_have_count(0)
    page.get_by_test_id("chat-send").click()
    expect(mine).to_have_count(1)
    expect(page.get_by_test_id("chat-input")).to_have_value("")
    expect(warnings).to_contain_text(name)  # the warnings after posting


def _drawn_draw(base_url: str) -> dict[str, Any]:
    """A live show with a two-winner draw that five viewers entered, drawn by the host."""
    suffix = secrets.token_hex(3)
    show = _live_show(base_url, suffix)
    with api(base_url) as host_api:
        ok(host_api.post("/api/v1/auth/signin", json={"email": show.host.email, "password": show.host.password}))
        with_csrf(host_api)
        body = {"prize_title": "蓝莓礼盒", "prize_value_fen": 9900, "winners_count": 2, "entry_rule": "present"}
        draw = ok(host_api.post(f"/api/v1/sessions/{show.session_id}/draws", json=body), 201)
        ok(host_api.post(f"/api/v1/draws/{draw['id']}/open"))
        for i in range(5):
            with api(base_url) as viewer_api:
                sign_up(viewer_api, person("verify-", f"viewer{i}", suffix, "观众"))
                ok(viewer_api.post(f"/api/v1/draws/{draw['id']}/enter"))
        drawn: dict[str, Any] = ok(host_api.post(f"/api/v1/draws/{draw['id']}/draw"))
    assert len(drawn["winners"]) == 2 and drawn["seed"]
    return drawn


def test_the_draw_check_page_recomputes_the_servers_winners(new_context: NewContext, live_server: str) -> None:
    drawn = _drawn_draw(live_server)
    published = [w["user_id"] for w in sorted(drawn["winners"], key=lambda w: w["rank"])]
    page = new_context().new_page()
    page.goto(f"/live/{drawn['session_id']}")
    page.get_by_test_id("draw-verify").click()
    expect(page.locator("[data-draw-verify]")).to_have_attribute("data-verified", "ok")
    computed = page.locator("[data-testid=verify-winners] li").evaluate_all(
        "(els) => els.map((e) => Number(e.dataset.userId))"
    )
    assert computed == published
    expect(page.locator("[data-testid=verify-checks] li[data-ok=n]")).to_have_count(0)

    # The same page catches a server that publishes other winners than the seed gives.
    tampered = {**drawn, "winners": list(reversed(drawn["winners"]))}
    for w, rank in zip(tampered["winners"], (1, 2), strict=True):
        w["rank"] = rank

    def lie(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(tampered))

    other = new_context().new_page()
    other.route(f"**/api/v1/draws/{drawn['id']}", lie)
    other.goto(f"/draws/{drawn['id']}/verify")
    expect(other.locator("[data-draw-verify]")).to_have_attribute("data-verified", "failed")
    expect(other.locator("[data-testid=verify-checks] li[data-ok=n]")).to_have_count(1)


def test_the_inspection_table_scrolls_on_a_phone_instead_of_crushing_its_words(
    new_context: NewContext, live_server: str
) -> None:
    suffix = secrets.token_hex(3)
    _live_show(live_server, suffix)
    inspector = person("words", "inspector", suffix, "检验员")
    with api(live_server) as inspector_api:
        sign_up(inspector_api, inspector)
        inspection_authority(live_server, inspector_api, inspector.email, suffix)  # the county's office
        product = ok(inspector_api.get("/api/v1/products", params={"organisation": f"words-{suffix}"}))["items"][0]
        ok(inspector_api.post(f"/api/v1/products/{product['id']}/inspections", json=inspection_body()), 201)
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.goto(f"/p/{product['id']}")
    table = page.get_by_test_id("inspections")
    expect(table).to_be_attached()
    lines = table.evaluate(
        """(t) => [...t.querySelectorAll("th, td:not(.items)")].map((cell) => {
          const range = document.createRange();
          range.selectNodeContents(cell);
          return [cell.textContent.trim(), new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size];
        })"""
    )
    assert lines and all(n == 1 for _text, n in lines), lines
    # The table scrolls inside its box; the page itself stays the phone's width.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
