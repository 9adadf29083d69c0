"""The demo campaign: created through the campaigns action over the demo's governments with
shows, its report read by the printed organiser, its figures the sums of the orders beneath."""

from __future__ import annotations

import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.analytics.campaign_models import Campaign, CampaignOrganisation
from fieldcast.commerce.models import Order
from fieldcast.demo import seed as demo
from fieldcast.demo.campaign import CAMPAIGN_SLUG, seed_campaign
from fieldcast.demo.catalog import ORGANISER_KEY
from fieldcast.live.models import LiveSession, SessionState
from tests.demo.conftest import ClientFactory, Seeded, all_rows, signed_in


def _login(key: str) -> tuple[str, str]:
    return next(p.email for p in demo.PEOPLE if p.key == key), demo.DEMO_PASSWORD


async def test_the_organiser_reads_the_demo_campaign_and_its_figures_are_the_orders_beneath(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    (campaign,) = [c for c in await all_rows(seeded.app, Campaign) if c.slug == CAMPAIGN_SLUG]
    assert campaign.is_demo
    organiser = await signed_in(seeded_clients, *_login(ORGANISER_KEY))
    await seeded.app.state.ctx.relay.drain()  # refunds in flight land before the two reads
    report = (await organiser.get(f"/api/v1/campaigns/{campaign.id}/report")).json()
    async with seeded.app.state.ctx.uow(write=False) as uow:
        shows = (
            await uow.session.scalars(
                sa.select(LiveSession.id).where(
                    LiveSession.organisation_id.in_(
                        sa.select(CampaignOrganisation.organisation_id).where(
                            CampaignOrganisation.campaign_id == campaign.id
                        )
                    ),
                    LiveSession.state != SessionState.CANCELLED,
                )
            )
        ).all()
        orders = (await uow.session.scalars(sa.select(Order).where(Order.session_id.in_(shows)))).all()
    totals = report["totals"]
    assert totals["shows"] == len(shows) >= 4
    assert totals["orders"] == len(orders) > 0
    assert totals["raw_fen"] == sum(o.total_fen for o in orders)
    assert totals["paid_orders"] == sum(1 for o in orders if o.paid_at is not None) > 0
    assert totals["refunded_fen"] == sum(o.refunded_fen for o in orders if o.paid_at is not None)
    assert {r["label"] for r in report["regions"]} >= {"江西省", "湖北省", "河南省"}
    page = await organiser.get(f"/campaigns/{CAMPAIGN_SLUG}")
    assert page.status_code == 200 and "百名县长直播带货" in page.text
    assert (await seeded_clients().get(f"/api/v1/campaigns/{campaign.id}/report")).status_code == 401


async def test_seeding_again_adds_no_campaign(seeded: Seeded) -> None:
    admin = next(u for u in await all_rows(seeded.app, User) if u.email == _login(demo.ADMIN_KEY)[0])
    assert await seed_campaign(seeded.app.state.ctx.uow, admin) is None
    assert len([c for c in await all_rows(seeded.app, Campaign) if c.slug == CAMPAIGN_SLUG]) == 1
