"""The ended demo shows' minutes, so their post-show reports have figures over time.

A real show's minutes are written while it runs: the roll-up samples the room counters each
minute and counts the orders, comments and coupon claims beneath each minute (analytics/rollup.py).
A demo show that "ended" before the demo ever served had no counters to sample, so the seed plays
its audience back through the roll-up's own sampling step (`write_sampled`), minute by minute, on a
curve a 90-minute public-welfare show draws (people come, stay, drift off), and then lets the
roll-up count the show's demo orders where they were placed (`rebuild`). Only ended shows marked
demo get this, and only once; the live demo rooms are sampled from their real sockets."""

from __future__ import annotations

import logging
import math
from datetime import datetime

import sqlalchemy as sa

from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.rollup import MINUTE, minute_of, rebuild, write_sampled
from fieldcast.demo.shop import Shop
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.realtime.counters import RoomTotals

log = logging.getLogger(__name__)

PEAK_VIEWERS = 240
PEAK_AT = 0.4  # of the show's length
NEW_VIEWERS_PER_MINUTE = 9
LIKES_PER_VIEWER_MINUTE = 0.6
FLOWERS_PER_MINUTE = 2


def viewers_at(minute: int, length: int) -> int:
    """Viewers on in `minute` of a `length`-minute show: up to the peak, then a slow fall to a
    third of it at the end."""
    done = (minute + 1) / length
    rising = math.sin(math.pi / 2 * done / PEAK_AT)
    falling = 1 - (2 / 3) * (done - PEAK_AT) / (1 - PEAK_AT)
    return max(1, round(PEAK_VIEWERS * (rising if done <= PEAK_AT else falling)))


def audience_at(minute: int, length: int) -> RoomTotals:
    """The demo audience's counter totals at the end of `minute` of a `length`-minute show: the
    viewers on now, and the running totals the counters keep (unique viewers, views, likes,
    flowers, watch time). Deterministic, so two seeds write the same minutes."""
    viewers = viewers_at(minute, length)
    watched_minutes = sum(viewers_at(m, length) for m in range(minute + 1))
    unique = min(NEW_VIEWERS_PER_MINUTE * (minute + 1) + viewers, 3 * PEAK_VIEWERS)
    return RoomTotals(
        likes=round(LIKES_PER_VIEWER_MINUTE * watched_minutes),
        flowers=FLOWERS_PER_MINUTE * (minute + 1),
        viewers=viewers,
        unique_viewers=unique,
        views=unique + unique // 4,  # some come back: views count visits
        watch_s=60.0 * watched_minutes,
    )


async def seed_show_minutes(shop: Shop) -> int:
    """Once per ended demo show without minutes: its audience sampled minute by minute through
    the roll-up, then its orders counted into their minutes by it. How many shows got minutes."""
    done = 0
    async with shop.new_uow() as uow:
        shows = (
            await uow.session.execute(
                sa.select(LiveSession.id, LiveSession.started_at, LiveSession.ended_at).where(
                    LiveSession.is_demo.is_(True),
                    LiveSession.state == SessionState.ENDED,
                    ~sa.exists().where(SessionMinute.session_id == LiveSession.id),
                )
            )
        ).all()
        for session_id, started_at, ended_at in shows:
            if started_at is None or ended_at is None:
                continue
            first: datetime = minute_of(started_at)
            length = max(1, int((ended_at - first) / MINUTE))
            for m in range(length):
                await write_sampled(uow.session, session_id, first + m * MINUTE, audience_at(m, length))
            counted = await rebuild(uow, session_id)
            log.info("demo minutes: show %s sampled over %s minutes, %s minutes counted", session_id, length, counted)
            done += 1
    return done
