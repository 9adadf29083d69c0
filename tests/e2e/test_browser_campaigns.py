"""A campaign's report in the browser: a show of a county cooperative sells one box (made over the
JSON API, paid through the sandbox); the platform administrator runs a campaign over it, opens its
report, sees the figures, drills down from the province to the county, filters by kind of host,
and opens the print view. Screenshots of the report and the print view are saved."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN, ARTIFACTS_DIR, NewContext
from tests.e2e.shows import Offer, api, ok, pay_for, person, schedule_show, sign_in_admin, sign_up
from tests.e2e.test_accessibility import FAILING_IMPACTS, _describe, _violations
from tests.factories import JINGYU

pytestmark = pytest.mark.e2e

LIVE_PRICE_FEN = 7900


def _sold_show(base_url: str, suffix: str) -> tuple[int, str]:
    """A show in Jingyu county (Jilin) with one paid order; its organisation's id and slug."""
    offer = Offer(
        org_name=f"靖宇县蓝莓合作社{suffix}",
        supplier_name="靖宇县蓝莓种植专业合作社",
        title=f"靖宇蓝莓 5斤装 {suffix}",
        description="长白山脚下的蓝莓，当天采摘，冷链发货。",
        sku={"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100},
        show_title=f"百名县长·靖宇蓝莓 {suffix}",
        live_price_fen=LIVE_PRICE_FEN,
    )
    show = schedule_show(base_url, "camp-", suffix, offer)
    buyer = person("camp-", "buyer", suffix, "买家")
    with api(base_url) as host_api, api(base_url) as buyer_api:
        ok(host_api.post("/api/v1/auth/signin", json={"email": show.host.email, "password": show.host.password}))
        host_api.headers["X-CSRF-Token"] = ok(host_api.get("/api/v1/auth/csrf"))["csrf_token"]
        ok(host_api.post(f"/api/v1/sessions/{show.session_id}/start"))
        sign_up(buyer_api, buyer)
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        address_id = ok(buyer_api.post("/api/v1/me/addresses", json=address), 201)["id"]
        items = [{"sku_id": show.sku_id, "quantity": 1, "session_id": show.session_id}]
        pay_for(buyer_api, items, address_id, key=suffix)
        org_id = int(ok(buyer_api.get(f"/api/v1/organisations/{show.org_slug}"))["id"])
    return org_id, show.org_slug


def test_an_administrator_reads_a_campaign_report_drills_down_and_prints_it(
    new_context: NewContext, live_server: str
) -> None:
    suffix = secrets.token_hex(3)
    org_id, _slug = _sold_show(live_server, suffix)
    today = datetime.now(UTC).date()
    slug = f"bai-ming-{suffix}"
    with api(live_server) as admin_api:
        sign_in_admin(admin_api)
        body = {
            "organisation_id": org_id,
            "slug": slug,
            "name": f"百名县长直播带货 {suffix}",
            "starts_on": (today - timedelta(days=1)).isoformat(),
            "ends_on": (today + timedelta(days=1)).isoformat(),
            "organisation_ids": [org_id],
        }
        ok(admin_api.post("/api/v1/campaigns", json=body, headers={"Idempotency-Key": f"camp-{suffix}"}), 201)

    page = new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    path = f"/campaigns/{slug}"
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(ADMIN.email)
    page.locator("#f-password").fill(ADMIN.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))

    expect(page.get_by_test_id("total-shows")).to_have_text("1")
    expect(page.get_by_test_id("total-paid")).to_have_text("¥79.00")
    expect(page.get_by_test_id("total-suppliers")).to_have_text("1")
    expect(page.get_by_test_id("region-chart")).to_be_visible()
    failing = [v for v in _violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, _describe(failing)
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "campaign-report.png"), full_page=True)

    # Province → city → county, by clicking the rows.
    for name in ("吉林省", "白山市", "靖宇县"):
        page.get_by_test_id("by-region").get_by_role("link", name=name).click()
        expect(page.get_by_test_id("region-path")).to_contain_text(name)
        expect(page.get_by_test_id("total-paid")).to_have_text("¥79.00")
    expect(page.get_by_test_id("by-organisation")).to_contain_text(f"靖宇县蓝莓合作社{suffix}")

    # The show's host is a village first secretary: officials alone leave nothing.
    page.locator("#f-kind").select_option("official")
    page.get_by_test_id("report-filters").locator("[type=submit]").click()
    expect(page.get_by_test_id("total-shows")).to_have_text("0")
    page.locator("#f-kind").select_option("first_secretary")
    page.get_by_test_id("report-filters").locator("[type=submit]").click()
    expect(page.get_by_test_id("total-paid")).to_have_text("¥79.00")

    page.get_by_test_id("print-link").click()
    expect(page.get_by_test_id("rollup-report-print")).to_be_visible()
    page.emulate_media(media="print")
    page.screenshot(path=str(ARTIFACTS_DIR / "campaign-report-print.png"), full_page=True)
