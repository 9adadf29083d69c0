"""The sandbox's pay page, served by the app: what it shows, Confirm (once, within the expiry),
where it leads back, and that only this site may frame it. Also the app's wiring of the
provider."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import make_engine
from fieldcast.db.outbox import OutboxMessage
from fieldcast.payments.actions import TOPIC_PROVIDER
from fieldcast.payments.models import SandboxTransaction
from fieldcast.payments.provider import PaymentProvider, PaymentRequest, TradeState
from fieldcast.payments.sandbox import TOPIC_NOTIFY
from tests.conftest import wipe
from tests.payments.conftest import changed, payment_request
from tests.web.test_i18n import zh

ON_BOTH_BACKENDS = True
# Nobody listens here: the app's own relay tries to deliver the notifications of these tests and
# fails at once, on loopback (the notify endpoint is the app's, and not part of these tests).
NOWHERE = "http://127.0.0.1:9/api/v1/payments/notify/sandbox"


def provider_of(app: FastAPI) -> PaymentProvider:
    provider: PaymentProvider = app.state.ctx.payment_provider
    return provider


async def opened(app: FastAPI, amount_fen: int = 1234, expires_in: timedelta = timedelta(minutes=15)) -> PaymentRequest:
    request = payment_request(amount_fen, expires_in=expires_in, notify_url=NOWHERE)
    await provider_of(app).create(request)
    return request


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def notifications(app: FastAPI, out_trade_no: str) -> list[OutboxMessage]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_NOTIFY, OutboxMessage.key == out_trade_no)
        )
        return list(rows)


async def confirm(client: httpx.AsyncClient, out_trade_no: str, back: str = "/live/7") -> httpx.Response:
    page = await client.get(f"/sandbox-pay/{out_trade_no}", params={"return": back})
    return await client.post(f"/sandbox-pay/{out_trade_no}/confirm", data={"csrf_token": csrf_of(page), "return": back})


async def test_the_pay_page_shows_amount_description_countdown_qr_and_confirm(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    request = await opened(app, 123456)
    page = await client.get(f"/sandbox-pay/{request.out_trade_no}", headers={"accept-language": "zh-CN"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert zh("Sandbox payment") in page.text
    assert "¥1,234.56" in page.text
    assert request.description in page.text
    assert f'data-countdown-to="{request.expires_at.isoformat()}"' in page.text
    assert re.search(r'<img src="data:image/svg\+xml[^"]+"[^>]*data-testid="sandbox-qr"', page.text)
    assert 'src="http' not in page.text  # nothing fetched from elsewhere
    assert f'action="/sandbox-pay/{request.out_trade_no}/confirm"' in page.text
    assert zh("Confirm payment") in page.text
    assert csrf_of(page)
    assert 'data-testid="sandbox-cancel"' in page.text


async def test_confirming_pays_once_and_writes_one_notification(app: FastAPI, client: httpx.AsyncClient) -> None:
    request = await opened(app)
    r = await confirm(client, request.out_trade_no, back="/live/7")
    assert r.status_code == 303
    assert r.headers["location"] == f"/sandbox-pay/{request.out_trade_no}?return=%2Flive%2F7"

    status = await provider_of(app).query(request.out_trade_no)
    assert status.state == TradeState.SUCCESS and status.paid_at is not None
    [message] = await notifications(app, request.out_trade_no)
    assert message.event_type == "notify"
    assert message.payload["out_trade_no"] == request.out_trade_no
    assert message.payload["amount_fen"] == 1234
    assert message.payload["notify_url"] == NOWHERE
    assert message.payload["event_type"] == "TRANSACTION.SUCCESS"

    paid = await client.get(r.headers["location"])
    assert 'data-testid="sandbox-paid"' in paid.text
    assert 'href="/live/7"' in paid.text
    assert 'data-testid="sandbox-confirm"' not in paid.text

    again = await client.post(
        f"/sandbox-pay/{request.out_trade_no}/confirm", data={"csrf_token": csrf_of(paid), "return": "/live/7"}
    )
    assert again.status_code == 303
    assert len(await notifications(app, request.out_trade_no)) == 1
    assert (await provider_of(app).query(request.out_trade_no)).paid_at == status.paid_at


async def test_an_expired_payment_is_refused_on_the_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    request = await opened(app)
    page = await client.get(f"/sandbox-pay/{request.out_trade_no}")
    async with app.state.ctx.uow() as uow:  # the payment's time runs out while the page is open
        await uow.session.execute(
            sa.update(SandboxTransaction)
            .where(SandboxTransaction.out_trade_no == request.out_trade_no)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await client.post(
        f"/sandbox-pay/{request.out_trade_no}/confirm",
        data={"csrf_token": csrf_of(page), "return": "/live/7"},
        headers={"accept-language": "zh-CN"},
    )
    assert r.status_code == 409
    assert zh("This payment has expired and can no longer be paid.") in r.text
    assert 'data-testid="sandbox-confirm"' not in r.text
    assert 'href="/live/7"' in r.text
    assert (await provider_of(app).query(request.out_trade_no)).state == TradeState.NOTPAY
    assert await notifications(app, request.out_trade_no) == []

    shown = await client.get(f"/sandbox-pay/{request.out_trade_no}")
    assert 'data-testid="sandbox-expired"' in shown.text
    assert 'data-testid="sandbox-confirm"' not in shown.text


async def test_a_closed_payment_cannot_be_paid(app: FastAPI, client: httpx.AsyncClient) -> None:
    request = await opened(app)
    page = await client.get(f"/sandbox-pay/{request.out_trade_no}")
    await provider_of(app).close(request.out_trade_no)
    r = await client.post(f"/sandbox-pay/{request.out_trade_no}/confirm", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 409
    assert zh("This payment was closed and can no longer be paid.") in r.text
    assert await notifications(app, request.out_trade_no) == []


async def test_confirm_needs_the_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    request = await opened(app)
    await client.get(f"/sandbox-pay/{request.out_trade_no}")
    r = await client.post(f"/sandbox-pay/{request.out_trade_no}/confirm", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (await provider_of(app).query(request.out_trade_no)).state == TradeState.NOTPAY


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "evil"])
async def test_the_way_back_stays_on_this_site(app: FastAPI, client: httpx.AsyncClient, target: str) -> None:
    request = await opened(app)
    page = await client.get(f"/sandbox-pay/{request.out_trade_no}", params={"return": target})
    assert 'data-testid="sandbox-cancel">' in page.text
    assert re.search(r'<a href="/" target="_top" data-testid="sandbox-cancel">', page.text)
    r = await client.post(
        f"/sandbox-pay/{request.out_trade_no}/confirm", data={"csrf_token": csrf_of(page), "return": target}
    )
    assert r.headers["location"] == f"/sandbox-pay/{request.out_trade_no}?return=%2F"


async def test_an_unknown_payment_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/sandbox-pay/FCnosuchpayment")).status_code == 404


async def test_only_the_pay_page_may_be_framed_and_only_by_this_site(app: FastAPI, client: httpx.AsyncClient) -> None:
    request = await opened(app)
    page = await client.get(f"/sandbox-pay/{request.out_trade_no}")
    assert page.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    [policy] = page.headers.get_list("content-security-policy")
    assert "frame-ancestors 'self';" in policy
    assert "'none'; base-uri" not in policy
    assert "script-src 'self';" in policy and "img-src 'self' data: blob:;" in policy

    for other in (await client.get("/"), await client.get("/signin"), await client.get("/sandbox-pay/FCnosuch")):
        assert other.headers.get_list("x-frame-options") == ["DENY"]
        assert "frame-ancestors 'none';" in other.headers["content-security-policy"]


async def test_in_a_frame_the_pay_page_leaves_out_the_site_header(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The room's buy sheet frames it on a phone: the payment only, no site navigation."""
    request = await opened(app)
    whole = await client.get(f"/sandbox-pay/{request.out_trade_no}")
    framed = await client.get(f"/sandbox-pay/{request.out_trade_no}", headers={"sec-fetch-dest": "iframe"})
    assert 'class="container site-header"' in whole.text and "<body>" in whole.text
    assert 'class="container site-header"' not in framed.text and "site-footer" not in framed.text
    assert '<body class="bare">' in framed.text
    assert 'data-testid="sandbox-confirm"' in framed.text
    for page in (whole, framed):
        assert "Sec-Fetch-Dest" in page.headers["vary"]


# == the app's wiring =============================================================================


async def test_the_app_opens_payments_at_the_sandbox_under_its_public_url(app: FastAPI, settings: Settings) -> None:
    provider = provider_of(app)
    assert provider.name == "sandbox"
    request = payment_request(notify_url=NOWHERE)
    opened_payment = await provider.create(request)
    assert opened_payment.pay_url == f"http://127.0.0.1:8000/sandbox-pay/{request.out_trade_no}"
    assert settings.resolved_public_url == "http://127.0.0.1:8000"
    assert changed(settings, public_url="https://shop.example/").resolved_public_url == "https://shop.example"
    assert changed(settings, host="0.0.0.0", port=8080).resolved_public_url == "http://127.0.0.1:8080"
    assert changed(settings, host="::").resolved_public_url == "http://[::1]:8000"


async def test_the_relay_tells_the_provider_to_close(app: FastAPI) -> None:
    """TOPIC_PROVIDER's consumer (payments.actions.provider_calls) runs on the app's relay."""
    request = await opened(app)
    async with app.state.ctx.uow() as uow:
        uow.publish(TOPIC_PROVIDER, request.out_trade_no, "close", {"out_trade_no": request.out_trade_no})
    await app.state.ctx.relay.drain()
    assert (await provider_of(app).query(request.out_trade_no)).state == TradeState.CLOSED


@pytest.fixture
async def late_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app whose sandbox delivers every notification late."""
    late = changed(settings, payment_sandbox_late_rate=1.0, payment_sandbox_late_s=30.0)
    engine = make_engine(late.sqlalchemy_url)
    await wipe(engine)
    await engine.dispose()
    application = create_app(late)
    async with application.router.lifespan_context(application):
        yield application


async def test_the_pay_page_follows_the_late_rate_setting(late_app: FastAPI) -> None:
    request = await opened(late_app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=late_app), base_url="http://testserver") as client:
        before = utcnow()
        assert (await confirm(client, request.out_trade_no)).status_code == 303
    [message] = await notifications(late_app, request.out_trade_no)
    assert message.available_at is not None and message.available_at >= before + timedelta(seconds=30)
