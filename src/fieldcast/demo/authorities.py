"""The demo's trust model: each demo county's market-supervision office is a verified inspection
authority for that county, and the demo's government organisations are verified governments.

Everything goes through the accounts actions: the organisation's owner applies with evidence and
a jurisdiction, and the demo reviewer (a platform administrator who belongs to none of them)
approves, so the audit log holds as for real organisations. The offices' names follow the real
naming pattern but are demo data: no real office authorised them (see EVIDENCE_NOTE)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fieldcast.accounts import actions
from fieldcast.accounts import org_verification as ov
from fieldcast.accounts import queries as q
from fieldcast.accounts.models import Organisation, OrgKind, User
from fieldcast.accounts.schemas import OrganisationIn, OrgVerificationIn
from fieldcast.catalog import regions
from fieldcast.db.uow import UnitOfWork

EVIDENCE_NOTE = "演示数据：机构名称仅作示意，不代表真实机构的授权或认证。"
APPROVAL_REASON = "演示数据：机构名录与办公电话已核对。"


@dataclass(frozen=True)
class Authority:
    slug: str
    name: str
    jurisdiction: str  # region code of the county it covers


AUTHORITIES: tuple[Authority, ...] = (
    Authority("jiaozhou-amr", "胶州市市场监督管理局", "370281"),
    Authority("jingyu-amr", "靖宇县市场监督管理局", "220622"),
    Authority("henan-amr", "河南蒙古族自治县市场监督管理局", "632324"),
    Authority("fengcheng-amr", "丰城市市场监督管理局", "360981"),
    Authority("zhenping-amr", "镇平县市场监督管理局", "411324"),
    Authority("zigui-amr", "秭归县市场监督管理局", "420527"),
    Authority("qianjiang-amr", "潜江市市场监督管理局", "429005"),
    Authority("qinyuan-amr", "沁源县市场监督管理局", "140431"),
    Authority("linxian-amr", "临县市场监督管理局", "141124"),
    Authority("wanrong-amr", "万荣县市场监督管理局", "140822"),
    Authority("panyu-amr", "广州市番禺区市场监督管理局", "440113"),
    Authority("doumen-amr", "珠海市斗门区市场监督管理局", "440403"),
)
AUTHORITY_SLUGS: tuple[str, ...] = tuple(a.slug for a in AUTHORITIES)


def authority_for(region_code: str) -> str:
    """The slug of the demo office whose jurisdiction covers `region_code`."""
    for authority in AUTHORITIES:
        if region_code in regions.descendant_codes(authority.jurisdiction):
            return authority.slug
    raise LookupError(f"no demo inspection authority covers region {region_code}")


async def create_authorities(uow: UnitOfWork, owner: User) -> dict[str, Organisation]:
    """The offices missing from this database, created by `owner` (an earlier demo may lack them)."""
    made: dict[str, Organisation] = {}
    for authority in AUTHORITIES:
        org = await q.organisation_by_slug(uow.session, authority.slug)
        if org is None:
            data = OrganisationIn(
                slug=authority.slug,
                name=authority.name,
                kind=OrgKind.INSPECTION_AUTHORITY,
                region=regions.full_name(authority.jurisdiction),
                description="演示数据：负责本县（市、区）商品的抽样检验。",
            )
            org = await actions.create_organisation(uow, owner, data, is_demo=True)
        made[authority.slug] = org
    return made


async def verify(uow: UnitOfWork, applicant: User, reviewer: User, org: Organisation, jurisdiction: str) -> None:
    """The owner applies, the demo reviewer approves; nothing happens to a verified organisation."""
    if org.is_verified:
        return
    data = OrgVerificationIn(jurisdiction_code=jurisdiction, evidence_note=EVIDENCE_NOTE)
    request = await ov.apply_for_org_verification(
        uow, applicant, org, data, is_region=regions.is_valid_region, is_demo=True
    )
    await ov.approve_org_verification(uow, reviewer, request.id, reason=APPROVAL_REASON)


async def verify_authorities(uow: UnitOfWork, owner: User, reviewer: User, orgs: Mapping[str, Organisation]) -> None:
    for authority in AUTHORITIES:
        await verify(uow, owner, reviewer, orgs[authority.slug], authority.jurisdiction)
