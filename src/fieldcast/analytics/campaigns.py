"""Campaigns (create, change, remove) and who may read which report.

Who creates a campaign: platform administrators (for any organisation), and the owners and
organisers of a *verified government* organisation (a county commerce bureau, a provincial
department of commerce). A drive like 百名县长直播带货 is announced by a government office, and the
report shows other organisations' figures, so the claim must have been checked.

How shows join: the campaign lists the organisations taking part, and every show one of them
schedules in the campaign's period (not cancelled) counts. That is what a county commerce bureau
announces — "these counties, this fortnight" — and it needs nobody to tick a box on each of 160
show forms (a show a host forgets to attach would silently be missing from the one report the
bureau hands up). A government organisation may only list organisations placed inside its verified
jurisdiction (whose figures its region report shows anyway); a platform administrator may list any.

Who reads:
- a campaign's report: platform administrators, and the owners, organisers and supervisors of the
  organisation that runs it (not the participants: each reads its own organisation's figures);
- an organisation's figures: platform administrators and its owners, organisers and supervisors;
- a region's report: platform administrators (the whole country), and the owners, organisers and
  supervisors of a verified government or inspection authority (market supervision) organisation,
  for its jurisdiction and everything under it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Membership, Organisation, OrgKind, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.analytics.campaign_models import Campaign, CampaignOrganisation
from fieldcast.analytics.rollups import organisation_region
from fieldcast.catalog import regions
from fieldcast.db.audit import record_audit
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Conflict, Invalid, NotAllowed, NotFound
from fieldcast.i18n import N_
from fieldcast.web.templating import DISPLAY_TZ

MANAGERS = (Role.OWNER, Role.ORGANISER)
READERS = (Role.OWNER, Role.ORGANISER, Role.SUPERVISOR)
REGION_KINDS = (OrgKind.GOVERNMENT, OrgKind.INSPECTION_AUTHORITY)


def day_start(day: date) -> datetime:
    """00:00 of a day in Beijing, as an aware time."""
    return datetime.combine(day, time(), tzinfo=DISPLAY_TZ)


def period(starts_on: date, ends_on: date) -> tuple[datetime, datetime]:
    """Whole days in Beijing: from the first day's 00:00 to the day after the last."""
    return day_start(starts_on), day_start(ends_on + timedelta(days=1))


def local_day(t: datetime) -> date:
    return t.astimezone(DISPLAY_TZ).date()


@dataclass(frozen=True)
class CampaignData:
    """A campaign's fields as the API and the form give them (already validated for shape)."""

    organisation_id: int
    slug: str
    name: str
    description: str
    starts_on: date
    ends_on: date
    participant_ids: list[int]


def _is_verified_government(org: Organisation) -> bool:
    return org.is_verified and org.kind == OrgKind.GOVERNMENT


async def _organisation(uow: UnitOfWork, organisation_id: int, field: str = "organisation_id") -> Organisation:
    org = await uow.session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(N_("No such organisation."), field=field)
    return org


async def require_campaign_manager(uow: UnitOfWork, actor: User | None, org: Organisation) -> User:
    """Platform admins; owners and organisers of a verified government organisation."""
    user = require_user(actor)
    if user.is_platform_admin:
        return user
    await require_org_role(uow.session, user, org.id, *MANAGERS)
    if not _is_verified_government(org):
        raise NotAllowed(
            N_("Only a verified government organisation may run a campaign; ask a platform administrator to verify it.")
        )
    return user


async def _check_participants(uow: UnitOfWork, user: User, owner: Organisation, ids: list[int]) -> list[int]:
    unique = sorted(set(ids))
    found = (await uow.session.scalars(sa.select(Organisation).where(Organisation.id.in_(unique)))).all()
    missing = set(unique) - {o.id for o in found}
    if missing:
        raise Invalid(N_("No such organisation: %(id)s."), field="organisation_ids", id=min(missing))
    if not user.is_platform_admin:
        inside = regions.descendant_codes(owner.jurisdiction_code)
        outside = [o for o in found if o.id != owner.id and organisation_region(o) not in inside]
        if outside:
            raise Invalid(
                N_("%(name)s is not inside your organisation's jurisdiction."),
                field="organisation_ids",
                name=outside[0].name,
            )
    return unique


def _check_period(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise Invalid(N_("The last day must not be before the first."), field="ends_on")


async def create_campaign(
    uow: UnitOfWork, actor: User | None, data: CampaignData, *, is_demo: bool = False
) -> Campaign:
    owner = await _organisation(uow, data.organisation_id)
    user = await require_campaign_manager(uow, actor, owner)
    _check_period(data.starts_on, data.ends_on)
    participants = await _check_participants(uow, user, owner, data.participant_ids)
    if await uow.session.scalar(sa.select(Campaign.id).where(Campaign.slug == data.slug)):
        raise Conflict(N_("This address is taken; choose another."), field="slug")
    starts_at, ends_at = period(data.starts_on, data.ends_on)
    campaign = Campaign(
        organisation_id=owner.id,
        slug=data.slug,
        name=data.name,
        description=data.description,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=user.id,
        is_demo=is_demo,
    )
    uow.session.add(campaign)
    await uow.session.flush()
    for org_id in participants:
        uow.session.add(CampaignOrganisation(campaign_id=campaign.id, organisation_id=org_id, added_by_id=user.id))
    record_audit(
        uow,
        actor_id=user.id,
        action="campaign.create",
        target_type="campaign",
        target_id=campaign.id,
        organisation_id=owner.id,
        details={"participants": participants},
    )
    return campaign


async def update_campaign(
    uow: UnitOfWork,
    actor: User | None,
    campaign: Campaign,
    *,
    name: str | None = None,
    description: str | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    participant_ids: list[int] | None = None,
) -> Campaign:
    owner = await _organisation(uow, campaign.organisation_id)
    user = await require_campaign_manager(uow, actor, owner)
    first = starts_on or local_day(campaign.starts_at)
    last = ends_on or local_day(campaign.ends_at - timedelta(days=1))
    _check_period(first, last)
    campaign.starts_at, campaign.ends_at = period(first, last)
    if name is not None:
        campaign.name = name
    if description is not None:
        campaign.description = description
    if participant_ids is not None:
        wanted = set(await _check_participants(uow, user, owner, participant_ids))
        have = set(await participant_ids_of(uow, campaign.id))
        if have - wanted:
            await uow.session.execute(
                sa.delete(CampaignOrganisation).where(
                    CampaignOrganisation.campaign_id == campaign.id,
                    CampaignOrganisation.organisation_id.in_(sorted(have - wanted)),
                )
            )
        for org_id in sorted(wanted - have):
            uow.session.add(CampaignOrganisation(campaign_id=campaign.id, organisation_id=org_id, added_by_id=user.id))
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="campaign.update",
        target_type="campaign",
        target_id=campaign.id,
        organisation_id=owner.id,
    )
    return campaign


async def delete_campaign(uow: UnitOfWork, actor: User | None, campaign: Campaign) -> None:
    owner = await _organisation(uow, campaign.organisation_id)
    user = await require_campaign_manager(uow, actor, owner)
    record_audit(
        uow,
        actor_id=user.id,
        action="campaign.delete",
        target_type="campaign",
        target_id=campaign.id,
        organisation_id=owner.id,
        details={"slug": campaign.slug},
    )
    await uow.session.delete(campaign)
    await uow.session.flush()


# -- reads -----------------------------------------------------------------------------------------


async def campaign_by_slug(uow: UnitOfWork, slug: str) -> Campaign:
    campaign = await uow.session.scalar(sa.select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        raise NotFound(N_("No such campaign."))
    return campaign


async def campaign_or_404(uow: UnitOfWork, campaign_id: int) -> Campaign:
    campaign = await uow.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(N_("No such campaign."))
    return campaign


async def participant_ids_of(uow: UnitOfWork, campaign_id: int) -> list[int]:
    rows = await uow.session.scalars(
        sa.select(CampaignOrganisation.organisation_id).where(CampaignOrganisation.campaign_id == campaign_id)
    )
    return sorted(int(x) for x in rows)


async def require_campaign_reader(uow: UnitOfWork, actor: User | None, campaign: Campaign) -> User:
    user = require_user(actor)
    await require_org_role(uow.session, user, campaign.organisation_id, *READERS)
    return user


async def require_organisation_reader(uow: UnitOfWork, actor: User | None, org: Organisation) -> User:
    user = require_user(actor)
    await require_org_role(uow.session, user, org.id, *READERS)
    return user


async def visible_campaigns(uow: UnitOfWork, actor: User | None) -> list[Campaign]:
    """Every campaign for a platform admin; else those run by an organisation the user reads."""
    user = require_user(actor)
    query = sa.select(Campaign).order_by(Campaign.starts_at.desc(), Campaign.id.desc())
    if not user.is_platform_admin:
        mine = sa.select(Membership.organisation_id).where(Membership.user_id == user.id, Membership.role.in_(READERS))
        query = query.where(Campaign.organisation_id.in_(mine))
    return list((await uow.session.scalars(query)).all())


async def readable_organisations(uow: UnitOfWork, actor: User | None) -> list[Organisation]:
    """The organisations whose own figures the user reads (owner, organiser or supervisor there)."""
    user = require_user(actor)
    mine = sa.select(Membership.organisation_id).where(Membership.user_id == user.id, Membership.role.in_(READERS))
    return list(
        (
            await uow.session.scalars(
                sa.select(Organisation).where(Organisation.id.in_(mine)).order_by(Organisation.name)
            )
        ).all()
    )


async def campaign_organisations(uow: UnitOfWork, actor: User | None) -> list[Organisation]:
    """The organisations a user may run a campaign for (a platform admin: every government office)."""
    user = require_user(actor)
    query = sa.select(Organisation).where(Organisation.kind == OrgKind.GOVERNMENT).order_by(Organisation.name)
    if not user.is_platform_admin:
        mine = sa.select(Membership.organisation_id).where(Membership.user_id == user.id, Membership.role.in_(MANAGERS))
        query = query.where(Organisation.id.in_(mine), Organisation.verified_kind == OrgKind.GOVERNMENT)
    return list((await uow.session.scalars(query)).all())


async def jurisdictions_of(uow: UnitOfWork, user: User) -> list[str]:
    """The region codes whose report `user` may read through a verified government or inspection
    authority organisation (owner, organiser or supervisor there)."""
    rows = await uow.session.scalars(
        sa.select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user.id, Membership.role.in_(READERS), Organisation.kind.in_(REGION_KINDS))
        .distinct()
    )
    return sorted({o.jurisdiction_code for o in rows if o.is_verified and regions.is_valid_region(o.jurisdiction_code)})


async def require_region_reader(uow: UnitOfWork, actor: User | None, code: str | None) -> User:
    """Platform admins read every region and the whole country; a verified government or inspection
    authority's people read their jurisdiction and what lies under it."""
    user = require_user(actor)
    if user.is_platform_admin:
        return user
    if code is not None:
        for jurisdiction in await jurisdictions_of(uow, user):
            if code in regions.descendant_codes(jurisdiction):
                return user
    raise NotAllowed(N_("Only a platform administrator or a verified government office of this region may read it."))
