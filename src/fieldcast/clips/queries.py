"""The reads of clips: one clip by id or share slug, a show's clips with their figures (views,
orders, paid GMV) for its organisation and for the reports (`clip_figures`), and the totals of
many shows at once (`clip_totals`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation
from fieldcast.catalog.models import Product, ProductImage, ProductStatus, Sku
from fieldcast.catalog.queries import media_url as catalog_media_url
from fieldcast.clips import schemas as s
from fieldcast.clips.models import Clip, ClipOrder, ClipState, ClipView
from fieldcast.commerce.queries import Sales, sales_by

MEDIA_URL = "/media/"
ID_DIGITS_MAX = 18


def page_path(clip: Clip) -> str:
    return f"/clips/{clip.slug}"


def media_url(path: str) -> str | None:
    return MEDIA_URL + path if path else None


async def load_clip(session: AsyncSession, key: str | int) -> Clip | None:
    """A clip that was not deleted, by id (digits) or share slug."""
    text = str(key)
    if text.isascii() and text.isdigit():
        if len(text) > ID_DIGITS_MAX:  # past any id (and past what the database's integers hold)
            return None
        where = Clip.id == int(text)
    else:
        where = Clip.slug == text
    return await session.scalar(sa.select(Clip).where(where, Clip.deleted_at.is_(None)))


def is_public(clip: Clip) -> bool:
    """What anyone with the link may watch: a ready, published clip (of a public show: every show
    with a replay is public in Fieldcast; a cancelled one has no replay to cut from)."""
    return clip.state == ClipState.READY and clip.published and clip.deleted_at is None


def clip_out(clip: Clip) -> s.ClipOut:
    return s.ClipOut(
        id=clip.id,
        slug=clip.slug,
        session_id=clip.session_id,
        sku_id=clip.sku_id,
        mark_id=clip.mark_id,
        title=clip.title,
        requested_start_s=clip.requested_start_s,
        requested_end_s=clip.requested_end_s,
        start_s=clip.start_s,
        duration_s=clip.duration_s,
        state=clip.state,
        published=clip.published,
        error=clip.error,
        page_url=page_path(clip),
        video_url=media_url(clip.video_path) if clip.state == ClipState.READY else None,
        poster_url=media_url(clip.poster_path) if clip.state == ClipState.READY else None,
        created_at=clip.created_at,
    )


async def public_clips(session: AsyncSession, session_id: int, limit: int = 12) -> list[s.ClipOut]:
    """The show's clips anyone may watch (ready, published, not deleted), newest first: the replay
    room lists them."""
    rows = await session.scalars(
        sa.select(Clip)
        .where(
            Clip.session_id == session_id,
            Clip.state == ClipState.READY,
            Clip.published.is_(True),
            Clip.deleted_at.is_(None),
        )
        .order_by(Clip.id.desc())
        .limit(limit)
    )
    return [clip_out(c) for c in rows]


# Ids as a list, or as a subquery (a report over thousands of shows binds no list of them).
Ids = Sequence[int] | sa.Select[Any] | sa.ScalarSelect[Any]


def _none(ids: Ids) -> bool:
    return isinstance(ids, Sequence) and not ids


async def views_of(session: AsyncSession, clip_ids: Ids) -> dict[int, int]:
    """Counted views per clip (one per viewer per window)."""
    if _none(clip_ids):
        return {}
    rows = await session.execute(
        sa.select(ClipView.clip_id, sa.func.count(ClipView.id))
        .where(ClipView.clip_id.in_(clip_ids))
        .group_by(ClipView.clip_id)
    )
    return {int(clip_id): int(n) for clip_id, n in rows}


async def sales_of(session: AsyncSession, clip_ids: Ids) -> dict[int, Sales]:
    """Orders placed from each clip's page, summed by commerce (paid = paid and on from there)."""
    if _none(clip_ids):
        return {}
    keyed = sa.select(ClipOrder.clip_id, ClipOrder.order_id).where(ClipOrder.clip_id.in_(clip_ids))
    return await sales_by(session, keyed)


def figures_out(clip: Clip, views: int, sales: Sales) -> s.ClipFiguresOut:
    return s.ClipFiguresOut(
        **clip_out(clip).model_dump(),
        views=views,
        orders=sales.orders,
        paid_orders=sales.paid_orders,
        paid_gmv_fen=sales.paid_fen,
        refunded_fen=sales.refunded_fen,
    )


async def clip_figures(session: AsyncSession, session_id: int) -> s.SessionClipsOut:
    """A show's clips (not deleted), newest first, each with its views, orders and paid GMV, and
    the show's totals over them. Three queries whatever the number of clips. No permission check:
    the caller (a route for the organisation, a report) decides who may read it."""
    clips = list(
        await session.scalars(
            sa.select(Clip).where(Clip.session_id == session_id, Clip.deleted_at.is_(None)).order_by(Clip.id.desc())
        )
    )
    ids = [c.id for c in clips]
    views = await views_of(session, ids)
    sales = await sales_of(session, ids)
    items = [figures_out(c, views.get(c.id, 0), sales.get(c.id, Sales())) for c in clips]
    return s.SessionClipsOut(
        session_id=session_id,
        clips=items,
        views=sum(x.views for x in items),
        orders=sum(x.orders for x in items),
        paid_orders=sum(x.paid_orders for x in items),
        paid_gmv_fen=sum(x.paid_gmv_fen for x in items),
        refunded_fen=sum(x.refunded_fen for x in items),
    )


@dataclass(frozen=True)
class ClipTotals:
    """All clips of one show together, deleted ones included (their orders happened)."""

    clips: int = 0
    views: int = 0
    orders: int = 0
    paid_orders: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0


async def clip_totals(session: AsyncSession, session_ids: Ids) -> dict[int, ClipTotals]:
    """Per show: its clips' views, orders and paid GMV (campaign and region reports)."""
    if _none(session_ids):
        return {}
    of_shows = Clip.session_id.in_(session_ids)
    pairs = (await session.execute(sa.select(Clip.id, Clip.session_id).where(of_shows))).all()
    show_of = {int(clip_id): int(sid) for clip_id, sid in pairs}
    if not show_of:
        return {}
    clip_ids = sa.select(Clip.id).where(of_shows)
    views = await views_of(session, clip_ids)
    sales = await sales_of(session, clip_ids)
    out: dict[int, ClipTotals] = {}
    for clip_id, sid in show_of.items():
        t = out.get(sid, ClipTotals())
        x = sales.get(clip_id, Sales())
        out[sid] = ClipTotals(
            t.clips + 1,
            t.views + views.get(clip_id, 0),
            t.orders + x.orders,
            t.paid_orders + x.paid_orders,
            t.paid_fen + x.paid_fen,
            t.refunded_fen + x.refunded_fen,
        )
    return out


@dataclass(frozen=True)
class ClipProduct:
    """The product card of a clip's page: the SKU at its storefront price, the units left and the
    organisation's unified brand (its storefront's name and logo)."""

    sku_id: int
    product_id: int
    title: str
    spec_label: str
    price_fen: int
    available: int
    per_buyer_limit: int | None
    image_url: str
    on_sale: bool
    brand_name: str
    logo_url: str
    org_slug: str


async def clip_product(session: AsyncSession, clip: Clip) -> ClipProduct | None:
    row = (
        await session.execute(
            sa.select(Sku, Product, Organisation)
            .join(Product, Product.id == Sku.product_id)
            .join(Organisation, Organisation.id == Product.organisation_id)
            .where(Sku.id == clip.sku_id)
        )
    ).first()
    if row is None:
        return None
    sku, product, org = row
    image = await session.scalar(
        sa.select(ProductImage.thumb_path)
        .where(ProductImage.product_id == product.id)
        .order_by(ProductImage.position, ProductImage.id)
        .limit(1)
    )
    return ClipProduct(
        sku_id=sku.id,
        product_id=product.id,
        title=product.title,
        spec_label=sku.spec_label,
        price_fen=sku.price_fen,
        available=sku.available,
        per_buyer_limit=sku.per_buyer_limit,
        image_url=catalog_media_url(image or ""),
        on_sale=product.status == ProductStatus.PUBLISHED and sku.is_active,
        brand_name=org.brand_name or org.name,
        logo_url=catalog_media_url(org.logo_path),
        org_slug=org.slug,
    )
