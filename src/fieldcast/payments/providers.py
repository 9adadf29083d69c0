"""Which payment provider runs: picked here once, at start-up, by the composition root."""

from __future__ import annotations

from fieldcast.config import Settings
from fieldcast.db.engine import Database
from fieldcast.payments.provider import PaymentProvider
from fieldcast.payments.sandbox import SandboxProvider, sandbox_secret


def make_payment_provider(settings: Settings, db: Database) -> PaymentProvider:
    """The in-process sandbox for now; WeChat Pay and Alipay, when they land, are chosen here by
    their settings, and nowhere else."""
    return SandboxProvider(db.uow, base_url=settings.resolved_public_url, secret=sandbox_secret(settings))
