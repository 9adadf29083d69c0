"""Payments' fixtures: the sandbox's deliberate repeats and delays off unless a test turns them on,
the database on its own (no app, so no relay of the app's races a test's own), the provider over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.payments.actions import new_trade_no
from fieldcast.payments.provider import PaymentRequest
from fieldcast.payments.sandbox import SandboxProvider, sandbox_secret
from tests.conftest import wipe

SHOP = "http://shop.test"
NOTIFY_URL = f"{SHOP}/api/v1/payments/notify/sandbox"


def changed(settings: Settings, **changes: object) -> Settings:
    """New settings with `changes` (model_copy would carry over cached properties computed from the
    old values)."""
    return Settings(**{**settings.model_dump(), **changes})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return changed(settings, payment_sandbox_duplicate_rate=0.0, payment_sandbox_late_rate=0.0)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.sqlalchemy_url)
    await wipe(database.engine)
    yield database
    await database.dispose()


@pytest.fixture
def secret(settings: Settings) -> bytes:
    return sandbox_secret(settings)


@pytest.fixture
def provider(db: Database, secret: bytes) -> SandboxProvider:
    return SandboxProvider(db.uow, base_url=SHOP, secret=secret)


def payment_request(
    amount_fen: int = 1234,
    *,
    expires_in: timedelta = timedelta(minutes=15),
    notify_url: str = NOTIFY_URL,
    out_trade_no: str | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=out_trade_no or new_trade_no(),
        amount_fen=amount_fen,
        description="靖宇蓝莓 5斤装 ×1",
        expires_at=utcnow() + expires_in,
        notify_url=notify_url,
    )
