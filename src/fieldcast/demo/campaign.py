"""The demo campaign: a "hundred county heads go live" drive (百名县长直播带货) across the demo's
county and city governments, run by the Fengcheng city government (so the printed organiser
reads its report), created through the campaigns action by the demo platform administrator — the
only one who may list organisations of several provinces. Its period runs from the day of the
earliest demo show to a week ahead, so the ended shows, with their refunds and deliveries, and
the live ones all count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Organisation, OrgKind, User
from fieldcast.analytics.campaign_models import Campaign
from fieldcast.analytics.campaigns import CampaignData, create_campaign, local_day
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession

CAMPAIGN_SLUG = "bai-ming-xian-zhang"
RUN_BY = "fengcheng-city"


async def seed_campaign(uow_factory: Callable[..., UnitOfWork], admin: User) -> Campaign | None:
    """Once: the campaign over every demo government organisation that holds a show. None when
    it exists already (or the demo has no shows)."""
    async with uow_factory() as uow:
        s = uow.session
        if await s.scalar(sa.select(Campaign.id).where(Campaign.slug == CAMPAIGN_SLUG)) is not None:
            return None
        owner = await s.scalar(sa.select(Organisation).where(Organisation.slug == RUN_BY))
        first_show = await s.scalar(sa.select(sa.func.min(LiveSession.scheduled_at)).where(LiveSession.is_demo))
        if owner is None or first_show is None:
            return None
        participants = (
            await s.scalars(
                sa.select(Organisation.id)
                .where(
                    Organisation.is_demo,
                    Organisation.kind == OrgKind.GOVERNMENT,
                    sa.exists().where(LiveSession.organisation_id == Organisation.id),
                )
                .order_by(Organisation.id)
            )
        ).all()
        data = CampaignData(
            organisation_id=owner.id,
            slug=CAMPAIGN_SLUG,
            name="百名县长直播带货（演示）",
            description="各县（市、区）长走进直播间，为本地农特产品带货；报表按省、市、县汇总场次、订单、核实成交额、退款率和发货时效。",
            starts_on=local_day(first_show),
            ends_on=local_day(utcnow()) + timedelta(days=7),
            participant_ids=list(participants),
        )
        return await create_campaign(uow, admin, data, is_demo=True)
