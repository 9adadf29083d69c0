"""Campaign and region reports: every figure is the sum of the orders beneath it (before and after
a refund lands late), the filters by day and kind of host move the figures as they should, the
XLSX's totals row equals the report's totals, and who may not create or read is refused."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from tests.analytics.campaign_world import (
    HUBEI,
    JILIN,
    JINGYU,
    ZIGUI,
    CampaignWorld,
    build,
    land_refund,
    order_sums,
)
from tests.live.conftest import post_form

ON_BOTH_BACKENDS = True

MakeClient = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def w(app: FastAPI, make_client: MakeClient) -> CampaignWorld:
    return await build(app, make_client)


def body(w: CampaignWorld, **overrides: Any) -> dict[str, Any]:
    return {
        "organisation_id": w.gov,
        "slug": "bai-ming-xian-zhang",
        "name": "百名县长直播带货",
        "starts_on": "2026-10-01",
        "ends_on": "2026-10-07",
        "organisation_ids": [w.county_a, w.county_b],
        **overrides,
    }


async def admin_campaign(w: CampaignWorld) -> dict[str, Any]:
    r = await w.clients["admin"].post("/api/v1/campaigns", json=body(w), headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def report(client: httpx.AsyncClient, path: str, **params: str) -> dict[str, Any]:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_a_campaign_report_is_the_sum_of_its_orders_and_moves_when_a_refund_lands_late(
    app: FastAPI, w: CampaignWorld
) -> None:
    c = await admin_campaign(w)
    assert c["starts_on"] == "2026-10-01" and c["ends_on"] == "2026-10-07"
    path = f"/api/v1/campaigns/{c['id']}/report"
    rep = await report(w.clients["admin"], path)
    t = rep["totals"]
    counted = [w.shows["a1"], w.shows["b1"]]  # not the cancelled show, not the one after the period
    sums = await order_sums(app, counted)
    assert {k: t[k] for k in sums} == sums
    assert (t["shows"], t["hosts"], t["orders"], t["raw_fen"], t["paid_fen"]) == (2, 2, 5, 46000, 43000)
    assert (t["suppliers"], t["farmers"], t["refund_rate"]) == (3, 2, 0.0)
    assert t["avg_delivery_h"] == pytest.approx((48 + 24) / 2)
    assert t["verified_fen"] == 43000
    by_org = {row["key"]: row["figures"]["paid_fen"] for row in rep["organisations"]}
    assert sum(by_org.values()) == t["paid_fen"] and len(by_org) == 2
    # By province: Jilin (county A, by its region text) and Hubei (county B, by its jurisdiction).
    provinces = {row["key"]: row["figures"] for row in rep["regions"]}
    assert set(provinces) == {JILIN, HUBEI}
    assert provinces[JILIN]["paid_fen"] == 15000 and provinces[HUBEI]["paid_fen"] == 28000

    await land_refund(app, w.orders["b1_big"], 8000)  # a week after the show
    t = (await report(w.clients["admin"], path))["totals"]
    sums = await order_sums(app, counted)
    assert {k: t[k] for k in sums} == sums
    assert (t["refunded_fen"], t["verified_fen"], t["refunded_orders"]) == (8000, 35000, 1)
    assert t["refund_rate"] == pytest.approx(8000 / 43000, abs=1e-4)
    assert t["refund_order_rate"] == pytest.approx(1 / 4)

    # Drill down: Jilin → its cities → Jingyu county → the organisation.
    jilin = await report(w.clients["admin"], path, region=JILIN)
    assert jilin["totals"]["paid_fen"] == 15000 and [r["key"] for r in jilin["regions"]] == ["220600"]
    county = await report(w.clients["admin"], path, region=JINGYU)
    assert county["totals"]["shows"] == 1 and county["organisations"][0]["label"] == "靖宇县助农合作社"


async def test_filters_by_day_and_by_kind_of_host_change_the_figures(app: FastAPI, w: CampaignWorld) -> None:
    c = await admin_campaign(w)
    path = f"/api/v1/campaigns/{c['id']}/report"
    officials = (await report(w.clients["admin"], path, host_kind="official"))["totals"]
    assert (officials["shows"], officials["paid_fen"], officials["farmers"]) == (1, 15000, 1)
    assert officials == {**officials, **await order_sums(app, [w.shows["a1"]])}
    farmers = (await report(w.clients["admin"], path, host_kind="farmer"))["totals"]
    assert (farmers["shows"], farmers["paid_fen"]) == (1, 28000)
    assert (await report(w.clients["admin"], path, host_kind="first_secretary"))["totals"]["shows"] == 0
    # 2 October only: the first show.
    day = (await report(w.clients["admin"], path, **{"from": "2026-10-02", "to": "2026-10-02"}))["totals"]
    assert (day["shows"], day["paid_fen"]) == (1, 15000)
    # From the 3rd: the second show; and a filter never reaches outside the campaign's period.
    later = (await report(w.clients["admin"], path, **{"from": "2026-10-03", "to": "2026-10-31"}))["totals"]
    assert (later["shows"], later["paid_fen"]) == (1, 28000)
    bad = await w.clients["admin"].get(path, params={"from": "2026-13-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    bad = await w.clients["admin"].get(path, params={"host_kind": "astronaut"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "host_kind"


async def test_the_xlsx_totals_row_equals_the_report_totals(app: FastAPI, w: CampaignWorld) -> None:
    c = await admin_campaign(w)
    await land_refund(app, w.orders["a1_farmer"], 2500)
    rep = await report(w.clients["admin"], f"/api/v1/campaigns/{c['id']}/report")
    r = await w.clients["admin"].get(f"/campaigns/{c['slug']}/report.xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[2]  # summary, by region, by organisation
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row[1] is not None and row[0] is not None)
    labels = list(rows[header])
    totals = dict(zip(labels, rows[-1], strict=True))
    t = rep["totals"]
    assert totals[labels[1]] == t["shows"] and totals[labels[3]] == t["orders"]
    assert totals[labels[5]] == pytest.approx(t["raw_fen"] / 100)
    assert totals[labels[6]] == pytest.approx(t["paid_fen"] / 100)
    assert totals[labels[7]] == pytest.approx(t["refunded_fen"] / 100)
    assert totals[labels[9]] == pytest.approx(t["verified_fen"] / 100) == 405.0
    csv = await w.clients["admin"].get(f"/campaigns/{c['slug']}/report.csv", params={"host_kind": "farmer"})
    assert csv.status_code == 200 and "280.00" in csv.content.decode("utf-8-sig")


async def test_who_may_create_a_campaign(app: FastAPI, w: CampaignWorld) -> None:
    gov = w.clients["gov_owner"]
    # A government office lists only organisations inside its jurisdiction (Zigui is in Hubei).
    r = await gov.post("/api/v1/campaigns", json=body(w), headers={"Idempotency-Key": "g-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organisation_ids"
    r = await gov.post(
        "/api/v1/campaigns", json=body(w, organisation_ids=[w.county_a]), headers={"Idempotency-Key": "g-2"}
    )
    assert r.status_code == 201, r.text
    again = await gov.post(
        "/api/v1/campaigns", json=body(w, organisation_ids=[w.county_a]), headers={"Idempotency-Key": "g-2"}
    )
    assert again.status_code == 201 and again.json()["id"] == r.json()["id"]  # a retry, not a second campaign
    taken = await gov.post("/api/v1/campaigns", json=body(w, organisation_ids=[]))
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "slug"
    # Not a government office; a supervisor or host of one; an outsider; nobody signed in.
    for who in ("a_owner", "gov_supervisor", "gov_host", "outsider"):
        org = w.county_a if who == "a_owner" else w.gov
        r = await w.clients[who].post(
            "/api/v1/campaigns", json=body(w, organisation_id=org, slug=f"x-{who.replace('_', '-')}")
        )
        assert r.status_code == 403, (who, r.text)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as anon:
        assert (await anon.post("/api/v1/campaigns", json=body(w, slug="anon"))).status_code == 401
    r = await gov.post(
        "/api/v1/campaigns", json=body(w, slug="backwards", starts_on="2026-10-07", ends_on="2026-10-01")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ends_on"


async def test_who_may_not_read_a_campaign_report(app: FastAPI, w: CampaignWorld) -> None:
    c = await admin_campaign(w)
    path = f"/api/v1/campaigns/{c['id']}/report"
    for who in ("gov_owner", "gov_supervisor"):
        assert (await w.clients[who].get(path)).status_code == 200
    for who in ("gov_host", "a_owner", "b_owner", "outsider"):  # participants read their own figures only
        assert (await w.clients[who].get(path)).status_code == 403, who
        assert (await w.clients[who].get(f"/campaigns/{c['slug']}")).status_code == 403, who
        assert (await w.clients[who].get(f"/campaigns/{c['slug']}/report.xlsx")).status_code == 403, who
    listed = (await w.clients["outsider"].get("/api/v1/campaigns")).json()
    assert listed == []


async def test_organisation_figures_are_for_its_own_people(app: FastAPI, w: CampaignWorld) -> None:
    async with app.state.ctx.uow(write=False) as uow:
        from fieldcast.accounts.models import Organisation

        a = await uow.session.get(Organisation, w.county_a)
        assert a is not None
        slug = a.slug
    own = await report(w.clients["a_owner"], f"/api/v1/reports/organisations/{slug}")
    # Every show of its own, the one after the campaign too, never the cancelled one.
    assert own["totals"]["shows"] == 2 and own["totals"]["paid_fen"] == 15000 + 99900
    events = {row["label"]: row["figures"]["paid_fen"] for row in own["events"]}
    assert events == {"靖宇蓝莓节": 15000, "Shows outside any event": 99900} or events == {
        "靖宇蓝莓节": 15000,
        "不属于任何活动专场的直播": 99900,
    }
    for who in ("b_owner", "gov_owner", "outsider"):
        assert (await w.clients[who].get(f"/api/v1/reports/organisations/{slug}")).status_code == 403, who


async def test_a_region_report_is_for_admins_and_the_verified_office_of_that_region(
    app: FastAPI, w: CampaignWorld
) -> None:
    country = await report(w.clients["admin"], "/api/v1/reports/regions")
    assert {r["key"] for r in country["regions"]} == {JILIN, HUBEI}
    assert country["totals"]["paid_fen"] == sum(r["figures"]["paid_fen"] for r in country["regions"])
    hubei = await report(w.clients["admin"], "/api/v1/reports/regions", region=HUBEI, host_kind="farmer")
    assert hubei["totals"]["paid_fen"] == 28000 and hubei["regions"][0]["key"] == "420500"
    # The Jilin office reads Jilin and Jingyu county, not Hubei and not the whole country.
    sup = w.clients["gov_supervisor"]
    jilin = await report(sup, "/api/v1/reports/regions", region=JILIN)
    assert jilin["totals"]["paid_fen"] == 15000 + 99900
    assert (await sup.get("/api/v1/reports/regions", params={"region": JINGYU})).status_code == 200
    assert (await sup.get("/api/v1/reports/regions", params={"region": HUBEI})).status_code == 403
    assert (await sup.get("/api/v1/reports/regions")).status_code == 403
    # A cooperative, a host of the office, an outsider: no region at all. Zigui's government reads Zigui.
    for who in ("a_owner", "gov_host", "outsider"):
        assert (await w.clients[who].get("/api/v1/reports/regions", params={"region": JINGYU})).status_code == 403
    zigui = await report(w.clients["b_owner"], "/api/v1/reports/regions", region=ZIGUI)
    assert zigui["totals"]["paid_fen"] == 28000
    assert (await w.clients["b_owner"].get("/api/v1/reports/regions", params={"region": HUBEI})).status_code == 403


async def test_pages_show_the_report_drill_down_and_the_form_again_with_its_errors(
    app: FastAPI, w: CampaignWorld
) -> None:
    gov = w.clients["gov_owner"]
    page = await gov.get("/campaigns/new")
    assert page.status_code == 200 and "campaign-form" in page.text
    r = await post_form(
        gov,
        "/campaigns/new",
        {
            "organisation_id": str(w.gov),
            "name": "百名县长",
            "slug": "bm",
            "starts_on": "2026-10-01",
            "ends_on": "2026-10-07",
            "organisation_ids": str(w.county_b),
        },
    )
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text and "百名县长" in r.text
    r = await post_form(
        gov,
        "/campaigns/new",
        {
            "organisation_id": str(w.gov),
            "name": "百名县长",
            "slug": "bai-ming",
            "starts_on": "2026-10-01",
            "ends_on": "2026-10-07",
            "organisation_ids": str(w.county_a),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/campaigns/bai-ming"
    page = await gov.get("/campaigns/bai-ming")
    assert page.status_code == 200 and 'data-testid="total-paid"' in page.text and f"region={JILIN}" in page.text
    drilled = await gov.get("/campaigns/bai-ming", params={"region": JILIN})
    assert drilled.status_code == 200 and "白山市" in drilled.text
    printed = await gov.get("/campaigns/bai-ming/print")
    assert printed.status_code == 200 and "rollup-report-print" in printed.text and "site-header" not in printed.text
    bad = await gov.get("/campaigns/bai-ming", params={"to": "yesterday"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert (await w.clients["a_owner"].get("/campaigns/new")).status_code == 200  # told who may, no form
    region = await w.clients["gov_supervisor"].get("/reports/regions")
    assert region.status_code == 200 and "吉林省" in region.text
    listing = await w.clients["gov_supervisor"].get("/campaigns")
    assert listing.status_code == 200 and f"/reports/regions?region={JILIN}" in listing.text
    csv = await w.clients["gov_supervisor"].get("/reports/regions.csv", params={"region": JINGYU})
    assert csv.status_code == 200 and "150.00" in csv.content.decode("utf-8-sig")
    for who in ("outsider", "a_owner"):
        assert (await w.clients[who].get("/reports/regions")).status_code == 403, who
        assert (await w.clients[who].get("/reports/regions.xlsx", params={"region": JINGYU})).status_code == 403
        assert (await w.clients[who].get("/reports/regions/print", params={"region": JILIN})).status_code == 403
    own = await w.clients["a_owner"].get("/campaigns")
    assert own.status_code == 200 and "/reports/regions" not in own.text and "/reports/organisations/" in own.text


async def test_the_office_that_runs_a_campaign_changes_and_removes_it_and_nobody_else(
    app: FastAPI, w: CampaignWorld
) -> None:
    gov = w.clients["gov_owner"]
    r = await gov.post("/api/v1/campaigns", json=body(w, organisation_ids=[w.county_a]))
    assert r.status_code == 201
    path = f"/api/v1/campaigns/{r.json()['id']}"
    for who in ("gov_supervisor", "a_owner", "outsider"):
        assert (await w.clients[who].patch(path, json={"name": "改名"})).status_code == 403, who
        assert (await w.clients[who].delete(path)).status_code == 403, who
    bad = await gov.patch(path, json={"organisation_ids": [w.county_a, w.county_b]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "organisation_ids"
    shorter = await gov.patch(path, json={"ends_on": "2026-10-03", "name": "百名县长（第一周）"})
    assert shorter.status_code == 200 and shorter.json()["ends_on"] == "2026-10-03"
    assert (await report(gov, f"{path}/report"))["totals"]["shows"] == 1
    none = await gov.patch(path, json={"organisation_ids": []})
    assert none.json()["organisation_ids"] == []
    assert (await report(gov, f"{path}/report"))["totals"]["shows"] == 0
    assert (await gov.delete(path)).status_code == 204
    assert (await gov.get(path)).status_code == 404


async def test_an_alert_standing_on_a_show_takes_its_money_out_of_verified_gmv(app: FastAPI, w: CampaignWorld) -> None:
    from fieldcast.integrity import actions as integrity
    from fieldcast.integrity.models import Severity, SubjectKind
    from fieldcast.integrity.rules import Finding
    from fieldcast.live.models import LiveSession

    c = await admin_campaign(w)
    await land_refund(app, w.orders["b1_small"], 8000)
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.shows["b1"])
        assert live is not None
        finding = Finding("test_rule", Severity.HIGH, SubjectKind.SESSION, live.id, {"why": "test"})
        assert await integrity.store(uow, live, finding) is not None
    rep = await report(w.clients["admin"], f"/api/v1/campaigns/{c['id']}/report")
    t = rep["totals"]
    # Show b1: 280 paid, 80 refunded, the 200 left under alert; show a1 untouched.
    assert (t["paid_fen"], t["refunded_fen"], t["flagged_fen"], t["verified_fen"]) == (43000, 8000, 20000, 15000)
    hubei = next(r for r in rep["regions"] if r["key"] == HUBEI)["figures"]
    assert (hubei["flagged_fen"], hubei["verified_fen"]) == (20000, 0)
