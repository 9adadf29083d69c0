"""What this process exports at /metrics (FIELDCAST_METRICS_ENABLED): request durations by route,
room sockets, the outbox backlog and relay, failed calls to Redis, and running ffmpeg pipelines,
plus the usual process and Python numbers.

Each app gets its own registry (tests build many apps in one process), and every number is this
process's own: with several workers, Prometheus scrapes each and sums. Gauges are read at scrape
time, the backlog with one read-only query; who may scrape is decided in web/metrics.py."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fieldcast.accounts.throttle import Throttles
from fieldcast.chat.ratelimit import RateLimiter
from fieldcast.config import Settings
from fieldcast.db import outbox
from fieldcast.db.outbox import OutboxRelay
from fieldcast.db.uow import UnitOfWork
from fieldcast.media.backend import MediaBackend
from fieldcast.realtime.bus import Bus
from fieldcast.realtime.hub import RoomHub
from fieldcast.realtime.room_log import RoomLog
from fieldcast.web.metrics import MetricsEndpoint, RequestDurations, request_histogram
from fieldcast.web.outer import OuterApp

log = logging.getLogger(__name__)


class ObservedServices(Protocol):
    """The parts of the composition root's context that /metrics reads."""

    settings: Settings
    bus: Bus
    room_log: RoomLog
    room_hub: RoomHub
    media: MediaBackend
    chat_limiter: RateLimiter
    throttles: Throttles
    relay: OutboxRelay

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


async def read_backlog(services: ObservedServices) -> tuple[int, float] | None:
    """(messages waiting, age of the oldest in seconds), or None when the database cannot say:
    the scrape still answers, without the two gauges (alert on their absence)."""
    try:
        async with services.uow(write=False) as uow:
            return await outbox.backlog(uow.session)
    except Exception:
        log.warning("metrics: the outbox backlog could not be read", exc_info=True)
        return None


def process_families(services: ObservedServices, backlog: tuple[int, float] | None) -> Iterator[Metric]:
    """The numbers read from the process's services at scrape time."""
    yield GaugeMetricFamily(
        "fieldcast_room_sockets", "Sockets joined to a live room in this process.", value=services.room_hub.sockets
    )
    yield GaugeMetricFamily(
        "fieldcast_rooms_followed",
        "Rooms this process follows (one room-log subscription each).",
        value=services.room_hub.rooms,
    )
    if backlog is not None:
        waiting, oldest_age_s = backlog
        yield GaugeMetricFamily(
            "fieldcast_outbox_backlog_messages",
            "Outbox messages waiting to be delivered (all processes).",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "fieldcast_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox message; 0 when none waits.",
            value=oldest_age_s,
        )
    stats = services.relay.stats
    yield CounterMetricFamily(
        "fieldcast_outbox_published", "Outbox messages this process's relay delivered.", value=stats.published
    )
    yield CounterMetricFamily(
        "fieldcast_outbox_delivery_failures",
        "Deliveries this process's relay tried and failed (the message stays and is retried).",
        value=stats.failures,
    )
    errors = CounterMetricFamily(
        "fieldcast_backend_errors",
        "Calls to the shared backend (Redis) that failed, by adapter; always 0 with the in-process backends.",
        labels=["adapter"],
    )
    for adapter, count in (
        ("bus", services.bus.backend_errors),
        ("room_log", services.room_log.backend_errors),
        ("room_counters", services.room_hub.counters.backend_errors),
        ("chat_limiter", services.chat_limiter.backend_errors),
        ("throttles", services.throttles.backend_errors),
    ):
        errors.add_metric([adapter], count)
    yield errors
    yield GaugeMetricFamily(
        "fieldcast_ffmpeg_pipelines",
        "ffmpeg pipelines this process runs (browser go-live, test streams, relays to nginx-rtmp).",
        value=services.media.running_pipelines,
    )


class _Scrape:
    """One scrape: the registry's metrics, then those read for it."""

    def __init__(self, registry: CollectorRegistry, read: Iterable[Metric]) -> None:
        self.registry = registry
        self.read = read

    def collect(self) -> Iterable[Metric]:
        yield from self.registry.collect()
        yield from self.read


def install(app: OuterApp, services: ObservedServices) -> None:
    """Measure every HTTP request and serve /metrics. Call it after the app's other middlewares
    (the outer ones too): the timing then covers them, and the endpoint answers before any of them
    runs."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    app.add_outer_middleware(RequestDurations, histogram=request_histogram(registry))

    async def collect() -> Collector:
        return _Scrape(registry, process_families(services, await read_backlog(services)))

    app.add_outer_middleware(MetricsEndpoint, collect=collect, token=services.settings.metrics_token)
