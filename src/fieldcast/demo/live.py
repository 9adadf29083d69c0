"""Demo live rooms: a multi-room event with three rooms live on test video (two of them
co-streaming, as the two officials in the stories did), one upcoming with a countdown and one
ended with a replay; one live room has a flash sale (秒杀) that opens a minute after the demo
starts serving. Each live room's test picture carries the name of the product being explained
(demo/captions.py), and its host moves the "explaining now" card along the shelf now and then
(rotate_pins), through the real pin action.

Seeded through the real live actions and marked as demo, each room with a cover drawn like the
catalog's pictures. The test video of the live rooms is started by the app at start-up (see
start_demo_streams), and so is the flash sale's countdown (open_flash_sales); the replay is
rendered here once."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.catalog.models import Product, Sku
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.demo.captions import Captions
from fieldcast.demo.pictures import draw_cover
from fieldcast.live import actions, costreams
from fieldcast.live import schemas as s
from fieldcast.live.models import LiveEvent, LiveSession, ProductMark, SessionHost, SessionState, ShelfItem
from fieldcast.media.ffmpeg import ffmpeg_executable

log = logging.getLogger(__name__)

EVENT_SLUG = "fengcheng-618"
REPLAY_SECONDS = 40
FLASH_STARTS_IN = timedelta(seconds=60)  # after the demo starts serving
PIN_EVERY_S = 45.0  # how often a live demo room's host moves the "explaining now" card on


@dataclass(frozen=True)
class _Flash:
    """A flash sale on one SKU of a room's shelf: its own stock, a per-buyer limit, a live price
    below the list price."""

    spec: str  # the SKU's spec label
    live_price_fen: int
    session_stock: int
    per_buyer_limit: int


@dataclass(frozen=True)
class _Room:
    org: str
    host: str
    title: str
    products: tuple[str, ...]  # product titles from the demo catalog
    state: SessionState
    starts_in: timedelta
    description: str
    cover: str  # the demo picture (demo/pictures.py) of the room's cover
    flash: _Flash | None = None


ROOMS: tuple[_Room, ...] = (
    _Room(
        "fengcheng-city", "host-fengcheng", "丰城富硒大米 产地直播间", ("丰城富硒大米 当季新米",),
        SessionState.LIVE, timedelta(minutes=-20),
        "在丰城市的稻田边开播：讲富硒土壤、看碾米车间，检验报告逐项念给大家听。", "rice",
    ),
    _Room(
        "zigui-county", "host-zigui", "秭归脐橙 长江边果园直播", ("秭归脐橙 当季鲜果 按斤装",),
        SessionState.LIVE, timedelta(minutes=-15),
        "从秭归县的江边果园开播，现场剥橙子、讲分拣，和丰城直播间连麦互推。5斤装限时秒杀，每人限购两件。", "oranges",
        flash=_Flash("5斤装", live_price_fen=2_990, session_stock=30, per_buyer_limit=2),  # list price 3,990
    ),
    _Room(
        "yanghe-town", "host-yanghe", "胶州洋河蓝莓 大棚采摘直播", ("胶州洋河蓝莓 当季鲜果 按斤装",),
        SessionState.LIVE, timedelta(minutes=-10),
        "在胶州市洋河镇的蓝莓大棚里开播：现摘现尝，讲果粉、讲分拣，冰袋加泡沫箱当天发货。", "blueberries",
    ),
    _Room(
        "qinyuan-county", "host-qinyuan", "沁源党参 腐竹 山货专场", ("沁源党参 切段 干货", "沁源腐竹 黄豆制 干货"),
        SessionState.SCHEDULED, timedelta(hours=2),
        "沁源县的党参和腐竹专场：讲怎么煲汤、怎么泡发，开播前可以先关注。", "codonopsis",
    ),
    _Room(
        "zhenping-county", "farmer-xiangzhai", "镇平锦鲤 鱼塘边直播（回放）",
        ("镇平观赏锦鲤 单尾发货", "镇平玉雕 平安扣挂件"),
        SessionState.ENDED, timedelta(hours=-20),
        "在镇平县向寨村的鱼塘边开播，讲怎么挑鱼、怎么打包，回放里可以直接跳到每个讲解。", "koi",
    ),
)  # fmt: skip


class _TestStreams(Protocol):
    async def start_test_stream(
        self, session_id: int, stream_name: str, *, caption_png: Path | None = None
    ) -> None: ...


class _NoMedia:
    """The seed renders the replay itself, so ending a demo show hands nothing to a media backend."""

    async def session_ended(self, session_id: int, stream_name: str) -> None:
        return None


async def is_live_seeded(session: AsyncSession) -> bool:
    return bool(await session.scalar(sa.select(LiveEvent.id).where(LiveEvent.slug == EVENT_SLUG)))


async def _skus(session: AsyncSession, org_id: int, titles: tuple[str, ...]) -> list[Sku]:
    found: list[Sku] = []
    for title in titles:
        product = await session.scalar(
            sa.select(Product).where(Product.organisation_id == org_id, Product.title == title)
        )
        if product is None:
            raise RuntimeError(f"demo catalog has no product {title!r}")
        found.extend((await session.scalars(sa.select(Sku).where(Sku.product_id == product.id).order_by(Sku.id))).all())
    return found


async def seed_live(
    uow: UnitOfWork, settings: Settings, users: Mapping[str, User], orgs: Mapping[str, Organisation], organiser: User
) -> None:
    """The Fengcheng 618 event and its four rooms, through the real actions, in `uow`."""
    now = utcnow()
    event = await actions.create_event(
        uow,
        organiser,
        s.EventIn(
            organisation_id=orgs["fengcheng-city"].id,
            slug=EVENT_SLUG,
            title="丰城618助农直播周",
            description="丰城市牵头，几个县市的直播间同时开播，各自带本地产品，也互相连麦推介。",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=6),
        ),
        is_demo=True,
    )
    rooms: list[LiveSession] = []
    for number, room in enumerate(ROOMS, start=1):
        org = orgs[room.org]
        skus = await _skus(uow.session, org.id, room.products)
        live = await actions.schedule_session(
            uow,
            organiser,
            s.SessionIn(
                organisation_id=org.id,
                title=room.title,
                description=room.description,
                scheduled_at=now + room.starts_in,
                host_ids=[users[room.host].id],
                event_id=event.id,
                shelf=[_shelf_item(k, room.flash, now) for k in skus],
            ),
            is_demo=True,
        )
        cover = draw_cover(room.cover, seed=number)
        await actions.set_cover(uow, organiser, live, cover, settings.resolved_media_dir)
        host = users[room.host]
        if room.state in (SessionState.LIVE, SessionState.ENDED):
            await actions.start_session(uow, host, live)
            live.started_at = now + room.starts_in
            for sku in skus:
                await actions.pin_product(uow, host, live, sku.id)
        if room.state == SessionState.ENDED:
            await actions.end_session(uow, host, live, _NoMedia())
            live.ended_at = now + room.starts_in + timedelta(hours=1, minutes=30)
            # Spread the "explaining now" marks over the rendered replay.
            marks = (
                await uow.session.scalars(
                    sa.select(ProductMark).where(ProductMark.session_id == live.id).order_by(ProductMark.id)
                )
            ).all()
            for i, mark in enumerate(marks):
                mark.offset_s = 4.0 + i * (REPLAY_SECONDS - 10) / max(1, len(marks))
                mark.marked_at = live.started_at + timedelta(seconds=mark.offset_s) if live.started_at else now
            duration = await asyncio.to_thread(render_replay, settings, live.stream_name)
            await actions.replay_finished(uow, live.id, duration)
        rooms.append(live)
    # The two officials' rooms co-stream and sell each other's goods.
    first, second = rooms[0], rooms[1]
    link = await costreams.invite_costream(uow, users[ROOMS[0].host], first, second.id)
    await costreams.answer_costream(uow, users[ROOMS[1].host], link, accept=True)


def _shelf_item(sku: Sku, flash: _Flash | None, now: datetime) -> s.ShelfItemIn:
    if flash is not None and sku.spec_label == flash.spec:
        return s.ShelfItemIn(
            sku_id=sku.id,
            live_price_fen=flash.live_price_fen,
            session_stock=flash.session_stock,
            per_buyer_limit=flash.per_buyer_limit,
            flash_starts_at=now + FLASH_STARTS_IN,  # moved to each serve's start by open_flash_sales
        )
    return s.ShelfItemIn(sku_id=sku.id, live_price_fen=sku.price_fen * 9 // 10, session_stock=min(sku.stock, 200))


def render_replay(settings: Settings, stream_name: str, seconds: int = REPLAY_SECONDS) -> float | None:
    """A short VOD HLS of test video standing in for the recording of a past demo show."""
    out = settings.resolved_hls_dir / "replay" / stream_name
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        ffmpeg_executable(settings.ffmpeg_path), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50",
        "-c:a", "aac", "-b:a", "64k", "-shortest",
        "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(out / "seg%03d.ts"), str(out / "index.m3u8"),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)  # noqa: S603 - fixed argv, no shell
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("demo replay could not be rendered: %s", exc)
        return None
    return float(seconds)


async def start_demo_streams(
    uow_factory: Callable[..., UnitOfWork], media: _TestStreams, captions: Captions | None = None
) -> int:
    """Play test video into every live demo room (called at start-up when the demo is on), each
    with its caption drawn on the picture when `captions` is given."""
    async with uow_factory(write=False) as uow:
        rooms = (
            await uow.session.scalars(
                sa.select(LiveSession).where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE)
            )
        ).all()
        targets = [(x.id, x.stream_name) for x in rooms]
    files = await captions.refresh(uow_factory) if captions is not None else {}
    for session_id, stream_name in targets:
        await media.start_test_stream(session_id, stream_name, caption_png=files.get(session_id))
    return len(targets)


async def rotate_pins(uow_factory: Callable[..., UnitOfWork]) -> int:
    """In every live demo room with more than one item on its shelf, the host pins the next
    one (the "explaining now" card moves on, a mark is made for the replay, and the caption on
    the picture follows). Returns how many rooms moved on."""
    moved = 0
    async with uow_factory() as uow:
        rooms = (
            await uow.session.scalars(
                sa.select(LiveSession)
                .where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE)
                .order_by(LiveSession.id)
            )
        ).all()
        for live in rooms:
            shelf = list(
                (
                    await uow.session.scalars(
                        sa.select(ShelfItem.sku_id)
                        .where(ShelfItem.session_id == live.id)
                        .order_by(ShelfItem.position, ShelfItem.id)
                    )
                ).all()
            )
            host_id = await uow.session.scalar(
                sa.select(SessionHost.user_id)
                .where(SessionHost.session_id == live.id)
                .order_by(SessionHost.position, SessionHost.id)
                .limit(1)
            )
            host = await uow.session.get(User, host_id) if host_id is not None else None
            if len(shelf) < 2 or host is None:
                continue
            at = shelf.index(live.pinned_sku_id) if live.pinned_sku_id in shelf else -1
            await actions.pin_product(uow, host, live, shelf[(at + 1) % len(shelf)])
            moved += 1
    return moved


async def open_flash_sales(uow_factory: Callable[..., UnitOfWork], starts_in: timedelta = FLASH_STARTS_IN) -> int:
    """Start the countdown of every flash sale on a live demo room's shelf: it opens `starts_in`
    after now (the demo starts serving; the seed ran once, maybe long ago). The show's organiser
    does it through the shelf actions, so the audit log and the room's shelf events hold. A sale
    that sold in an earlier run is listed afresh, a new round with its own stock and per-buyer
    limits (per-buyer counts belong to the shelf item); one whose units orders awaiting payment
    still hold goes on as it is. Returns how many sales were set."""
    starts_at = utcnow() + starts_in
    opened = 0
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                sa.select(ShelfItem, LiveSession)
                .join(LiveSession, LiveSession.id == ShelfItem.session_id)
                .where(
                    LiveSession.is_demo.is_(True),
                    LiveSession.state == SessionState.LIVE,
                    ShelfItem.flash_starts_at.is_not(None),
                    ShelfItem.session_stock.is_not(None),
                )
                .order_by(ShelfItem.id)
            )
        ).all()
        for item, live in rows:
            organiser = await uow.session.get(User, live.created_by_id) if live.created_by_id else None
            flash = next((r.flash for r in ROOMS if r.title == live.title and r.flash), None)
            round_size = flash.session_stock if flash else item.session_stock or 0
            if not (item.session_sold or item.session_reserved):
                await actions.update_shelf_item(uow, organiser, live, item, s.ShelfItemPatch(flash_starts_at=starts_at))
            elif not item.session_reserved:
                again = s.ShelfItemIn(
                    sku_id=item.sku_id,
                    live_price_fen=item.live_price_fen,
                    session_stock=round_size,
                    per_buyer_limit=item.per_buyer_limit,
                    flash_starts_at=starts_at,
                )
                await actions.remove_shelf_item(uow, organiser, live, item)
                await actions.add_shelf_item(uow, organiser, live, again)
            else:
                continue
            opened += 1
    return opened
