"""Integrity in the browser: a show in which the cooperative's own owner buys (the rule
member_of_selling_organisation), ended so the rules run on the server as they do in production;
its supervisor signs in, opens the show's integrity report, sees raw and verified GMV and the
alert with its evidence, and acknowledges it; anyone opens the public ledger and sees the
figures and the audit log's head of the day.

Everything before the browser is made over the JSON API (tests/e2e/shows.py), paid through the
sandbox provider."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import Offer, api, join_by_invitation, ok, pay_for, person, schedule_show, sign_up, with_csrf
from tests.e2e.test_accessibility import FAILING_IMPACTS, _describe, _violations
from tests.factories import JINGYU

pytestmark = pytest.mark.e2e

WAIT_S = 15.0  # an upper bound: the payment notification and the rules' outbox run in the server
LIVE_PRICE_FEN = 7900


def _signed_in(client: httpx.Client, who: Credentials) -> None:
    ok(client.post("/api/v1/auth/signin", json={"email": who.email, "password": who.password}))
    with_csrf(client)


def _until(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            assert found, f"waited {WAIT_S:.0f} s for {what}"
            return found
        time.sleep(0.2)


def _flagged_show(base_url: str) -> tuple[int, Credentials]:
    """A show whose owner bought one unit at the live price, paid, then ended: one alert (on the
    order). The show's id and its organisation's supervisor."""
    suffix = secrets.token_hex(3)
    offer = Offer(
        org_name=f"靖宇县蓝莓合作社{suffix}",
        supplier_name="靖宇县蓝莓种植专业合作社",
        title=f"靖宇蓝莓 5斤装 {suffix}",
        description="长白山脚下的蓝莓，当天采摘，冷链发货。",
        sku={"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100},
        show_title=f"靖宇蓝莓助农直播 {suffix}",
        live_price_fen=LIVE_PRICE_FEN,
    )
    show = schedule_show(base_url, "integ-", suffix, offer)
    supervisor = person("integ-", "supervisor", suffix, "纪检监督员")
    sid = show.session_id
    with api(base_url) as owner_api, api(base_url) as host_api, api(base_url) as sup_api:
        _signed_in(owner_api, show.owner)
        _signed_in(host_api, show.host)
        sign_up(sup_api, supervisor)
        join_by_invitation(owner_api, sup_api, show.org_slug, supervisor.email, "supervisor")
        ok(host_api.post(f"/api/v1/sessions/{sid}/start"))

        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        address_id = ok(owner_api.post("/api/v1/me/addresses", json=address), 201)["id"]
        pay_for(owner_api, [{"sku_id": show.sku_id, "quantity": 1, "session_id": sid}], address_id, key=suffix)

        ok(host_api.post(f"/api/v1/sessions/{sid}/end"))
        _until("the rules to run", lambda: ok(sup_api.get(f"/api/v1/sessions/{sid}/alerts")))
    return sid, supervisor


def test_a_supervisor_acknowledges_an_alert_and_anyone_reads_the_ledger(
    new_context: NewContext, live_server: str
) -> None:
    sid, supervisor = _flagged_show(live_server)
    price = "¥79.00"

    page = new_context(bypass_csp=True).new_page()  # the CSP allows no injected script (axe, below)
    report = f"/integrity/sessions/{sid}"
    page.goto(report)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(supervisor.email)
    page.locator("#f-password").fill(supervisor.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(report) + "$"))

    expect(page.get_by_test_id("report-raw")).to_have_text(price)
    expect(page.get_by_test_id("report-paid")).to_have_text(price)
    expect(page.get_by_test_id("report-flagged")).to_have_text(price)  # the owner's own order
    expect(page.get_by_test_id("report-verified")).to_have_text("¥0.00")
    alert = page.get_by_test_id("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_have_attribute("data-rule", "member_of_selling_organisation")
    expect(alert.get_by_test_id("alert-state")).to_have_text("待处理")
    expect(alert.get_by_test_id("evidence-total_fen")).to_contain_text(price)
    expect(alert.get_by_test_id("evidence-roles")).to_contain_text("负责人")

    alert.get_by_label("说明（后续处理）").fill("已约谈理事长，自购不计入业绩")
    alert.get_by_test_id("acknowledge-button").click()
    expect(page).to_have_url(re.compile(re.escape(report) + "#alert-\\d+$"))
    expect(alert.get_by_test_id("alert-state")).to_have_text("已知悉")
    expect(alert.get_by_test_id("alert-decision")).to_contain_text("已约谈理事长，自购不计入业绩")
    expect(alert.get_by_test_id("acknowledge-form")).to_have_count(0)
    expect(page.get_by_test_id("report-verified")).to_have_text("¥0.00")  # acknowledged: still under alert

    # The report with a decided alert and its remaining form: no serious or critical axe violation.
    failing = [v for v in _violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, _describe(failing)

    # The supervisor's view lists the show with its figures and links to the report.
    page.goto("/integrity")
    row = page.locator(f"[data-testid=show-row][data-session-id='{sid}']")
    expect(row).to_contain_text(price)
    expect(page.locator("[data-testid=alert-count][data-rule=member_of_selling_organisation]")).to_be_visible()

    anonymous = new_context().new_page()
    anonymous.goto(f"/live/{sid}/ledger")
    expect(anonymous.get_by_test_id("gmv-raw")).to_have_text(price)
    expect(anonymous.get_by_test_id("gmv-verified")).to_have_text("¥0.00")
    expect(anonymous.get_by_test_id("ledger-audit-head").first).to_contain_text(re.compile(r"[0-9a-f]{64}"))
    anonymous.get_by_test_id("ledger-audit-link").click()
    expect(anonymous).to_have_url(re.compile(r"/audit$"))
