"""The public ledger of a show: anyone opens it; it shows the figures side by side (never raw GMV
alone), whether every shelf item was inspected, the hosts' verification, the draws with their
verification links, and that officials took no pay only while no alert about officials stands.
The room links to it once the show has ended."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import HostKind, Organisation, OrgKind, User
from fieldcast.catalog.models import Inspection, InspectionResult, Sku
from fieldcast.draws.models import EntryRule, LuckyDraw
from fieldcast.integrity import actions as a
from fieldcast.integrity import rules as r
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.web.money import format_yuan
from tests.integrity.world import World, add_host, place, world


def cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(td|p|li)>', html, re.S)
    assert found is not None, testid
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def inspect_shelf(app: FastAPI, w: World) -> None:
    """A passed inspection by the county's verified market-supervision office (not the seller)."""
    async with app.state.ctx.uow() as uow:
        office = Organisation(
            slug=f"amr{w.shop.org_id}",
            name="靖宇县市场监督管理局",
            kind=OrgKind.INSPECTION_AUTHORITY,
            verified_kind=OrgKind.INSPECTION_AUTHORITY,
            jurisdiction_code="220622",
        )
        uow.session.add(office)
        await uow.session.flush()
        sku = await uow.session.get(Sku, w.shop.skus[0])
        assert sku is not None
        uow.session.add(
            Inspection(
                product_id=sku.product_id,
                authority_id=office.id,
                sample_date=date.today() - timedelta(days=3),
                lab_name="白山市检测中心",
                certificate_no="BS-2026-001",
                result=InspectionResult.PASS,
                valid_until=date.today() + timedelta(days=180),
            )
        )


async def test_anyone_opens_the_ledger_and_sees_the_figures_side_by_side(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        await place(uow, w, w.shop.buyers[0], 6900)
        await place(uow, w, w.shop.buyers[1], 13800, refunded_fen=3800)
        await place(uow, w, w.people["host"], 5000)  # the organisation's own host buys: an alert
        await place(uow, w, w.shop.buyers[2], 9900, paid=False)
        uow.session.add(
            LuckyDraw(
                session_id=w.session_id,
                prize_title="蓝莓礼盒",
                prize_value_fen=9900,
                winners_count=1,
                entry_rule=EntryRule.PRESENT,
            )
        )
    async with app.state.ctx.uow() as uow:
        await a.run_rules(uow, w.session_id)
    async with app.state.ctx.uow(write=False) as uow:
        draw_id = await uow.session.scalar(sa.select(LuckyDraw.id).where(LuckyDraw.session_id == w.session_id))

    page = await client.get(f"/live/{w.session_id}/ledger")  # no sign-in
    assert page.status_code == 200
    html = page.text
    assert cell(html, "gmv-raw") == format_yuan(6900 + 13800 + 5000 + 9900)
    assert cell(html, "gmv-paid") == format_yuan(6900 + 13800 + 5000)
    assert cell(html, "gmv-refunded") == format_yuan(3800)
    assert cell(html, "gmv-flagged") == format_yuan(5000)
    assert cell(html, "gmv-verified") == format_yuan(6900 + 13800 + 5000 - 3800 - 5000)
    assert f'href="/draws/{draw_id}/verify"' in html and "蓝莓礼盒" in html
    assert cell(html, "ledger-inspected") == "货架上并非每件商品都有有效的抽检。"
    assert 'data-testid="ledger-no-pay"' not in html  # no official hosted it: nothing to state

    await inspect_shelf(app, w)
    html = (await client.get(f"/live/{w.session_id}/ledger")).text
    assert cell(html, "ledger-inspected") == "货架上的每件商品都通过了市场监管抽检。"
    assert (await client.get("/live/999999/ledger")).status_code == 404


async def test_officials_took_no_pay_is_stated_only_while_no_alert_about_them_stands(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w = await world(app)
    await add_host(app, w, HostKind.OFFICIAL)
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(is_public_welfare=True)
        )
    html = (await client.get(f"/live/{w.session_id}/ledger")).text
    assert "未领取任何报酬" in cell(html, "ledger-no-pay")
    assert "已实名认证" in cell(html, "ledger-host") and "副县长" in cell(html, "ledger-host")

    async with app.state.ctx.uow() as uow:  # the show turned commercial afterwards: the rule finds it
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(is_public_welfare=False)
        )
    async with app.state.ctx.uow() as uow:
        (alert,) = await a.run_rules(uow, w.session_id, rules=[r.official_host_not_public_welfare])
    html = (await client.get(f"/live/{w.session_id}/ledger")).text
    assert 'data-testid="ledger-no-pay"' not in html
    assert 'data-testid="ledger-officials-alert"' in html
    assert cell(html, "gmv-verified") == format_yuan(0)

    async with app.state.ctx.uow() as uow:  # a supervisor finds the flag was wrong (set by mistake)
        supervisor = await uow.session.get(User, w.people["supervisor"])
        await a.mark_false_alarm(uow, supervisor, alert.id, "公益标记被误改，已恢复")
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(is_public_welfare=True)
        )
    html = (await client.get(f"/live/{w.session_id}/ledger")).text
    assert 'data-testid="ledger-no-pay"' in html


async def test_the_room_links_to_the_ledger_once_the_show_has_ended(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await world(app)
    assert 'data-testid="ledger-link"' in (await client.get(f"/live/{w.session_id}")).text
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(state=SessionState.LIVE, ended_at=None)
        )
    assert 'data-testid="ledger-link"' not in (await client.get(f"/live/{w.session_id}")).text
