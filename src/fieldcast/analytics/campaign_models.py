"""Campaigns: one named drive (such as 百名县长直播带货, "a hundred county heads go live") that spans
organisations. A campaign belongs to the organisation that runs it and lists the organisations
taking part; every show one of them schedules inside the campaign's period counts in its report
(analytics/campaigns.py says why it is the list of organisations rather than show by show)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped

CAMPAIGN_NAME_MAX = 100
CAMPAIGN_SLUG_MAX = 48
CAMPAIGN_DESCRIPTION_MAX = 2000
CAMPAIGN_PARTICIPANTS_MAX = 500


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"

    # The organisation that runs the campaign: its owners, organisers and supervisors read the report.
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(sa.String(CAMPAIGN_SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(sa.String(CAMPAIGN_NAME_MAX))
    description: Mapped[str] = mapped_column(sa.String(CAMPAIGN_DESCRIPTION_MAX), default="")
    # The period, UTC: shows scheduled in [starts_at, ends_at) count. The forms take whole days in
    # Beijing time (the first day's 00:00 to the day after the last).
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    is_demo: Mapped[bool] = mapped_column(default=False)


class CampaignOrganisation(Timestamped, Base):
    """An organisation taking part in a campaign."""

    __tablename__ = "campaign_organisations"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "organisation_id", name="uq_campaign_organisation"),)

    campaign_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
