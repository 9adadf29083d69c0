"""Alipay (OpenAPI, RSA2 keys) behind the PaymentProvider Protocol, through python-alipay-sdk:
precreate (a qr_code the buyer scans), query, close, refund, and asynchronous notifications
whose RSA2 signature over the sorted parameters is checked against the Alipay public key.

The SDK is synchronous (urllib): every call to Alipay runs in a worker thread, never on the event
loop, and the callers (payments/actions.py) never hold a row lock meanwhile. Alipay's answers are
signed too; the SDK checks them against the same public key.

Alipay signs no delivery time of its own the way WeChat Pay does, and retries a notification for
about a day, so an old one is not refused: a repeat is told by its notify_id and applied once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import anyio.to_thread
from alipay import AliPay
from alipay.utils import AliPayConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fieldcast.payments.models import REF_MAX, TRADE_NO_MAX
from fieldcast.payments.provider import (
    Acknowledgement,
    BadNotification,
    Notification,
    OpenedPayment,
    PaymentRequest,
    ProviderConfigError,
    ProviderError,
    RefundResult,
    TradeState,
    TradeStatus,
)

NAME = "alipay"
CHINA = ZoneInfo("Asia/Shanghai")
SUBJECT_MAX = 256
OK = "10000"
_STATES = {
    "WAIT_BUYER_PAY": TradeState.NOTPAY,
    "TRADE_SUCCESS": TradeState.SUCCESS,
    "TRADE_FINISHED": TradeState.SUCCESS,
    "TRADE_CLOSED": TradeState.CLOSED,
}
# A precreated trade exists at Alipay only once the buyer scanned it; closing one that does not,
# or one already paid or closed, leaves nothing to do.
_CLOSED_ALREADY = frozenset({"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_CLOSE"})
_TRY_AGAIN = frozenset({"ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "aop.ACQ.SYSTEM_ERROR"})


@dataclass(frozen=True)
class AlipayConfig:
    """Everything the adapter needs, read and checked from settings by payments/providers.py:
    the application's RSA private key and Alipay's public key, as PEM text."""

    app_id: str
    private_key_pem: str
    alipay_public_key_pem: str
    notify_url: str
    gateway_url: str = "https://openapi.alipay.com/gateway.do"
    timeout_s: float = 10.0


class _Notice(BaseModel):
    """The parameters of an asynchronous notification that we use (all strings, as posted)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    notify_id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    app_id: str
    out_trade_no: Annotated[str, Field(min_length=1, max_length=TRADE_NO_MAX)]
    trade_no: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    trade_status: str
    total_amount: str
    gmt_payment: str = ""
    refund_fee: str = ""
    out_biz_no: str = ""


def yuan(amount_fen: int) -> str:
    """Fen as Alipay writes amounts: yuan with two decimals."""
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def fen(amount: str) -> int:
    """Alipay's "12.34" as 1234 fen; ValueError for anything not a non-negative amount to the fen."""
    try:
        value = Decimal(amount) * 100
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"not an amount to the fen: {amount!r}")
    return int(value)


def china_time(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def from_china_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).astimezone(UTC)


class _BeijingAliPay(AliPay):  # type: ignore[misc]  # the SDK is untyped
    """The SDK stamps requests with the server's local time; Alipay reads them as Beijing time,
    and a server on UTC would be eight hours off."""

    def build_body(self, method: str, biz_content: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = china_time(datetime.now(UTC))
        return data


class AlipayProvider:
    """PaymentProvider over Alipay's OpenAPI: a payment is a precreated trade whose qr_code the
    app's pay page shows (the Alipay app scans it, or opens it on a phone)."""

    name = NAME

    def __init__(self, config: AlipayConfig) -> None:
        try:
            self._client = _BeijingAliPay(
                appid=config.app_id,
                app_notify_url=config.notify_url,
                app_private_key_string=config.private_key_pem,
                alipay_public_key_string=config.alipay_public_key_pem,
                sign_type="RSA2",
                config=AliPayConfig(timeout=config.timeout_s),
            )
        except Exception as exc:  # pycryptodome's ValueError for an unreadable key, and others
            raise ProviderConfigError(f"Alipay: the keys cannot be read: {exc}") from exc
        # The SDK knows only the production and its sandbox's gateway; ours may be either, or a fake.
        self._client._gateway = config.gateway_url
        self._config = config

    async def _call(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one SDK call in a worker thread; the SDK checks the answer's RSA2 signature. A
        network error, an unsigned error answer or a forged one is a ProviderError."""
        try:
            answer = await anyio.to_thread.run_sync(call)
        except Exception as exc:  # urllib's errors, AliPayException, AliPayValidationError
            raise ProviderError(f"alipay {what}: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise ProviderError(f"alipay {what}: a malformed answer")
        return answer

    async def create(self, request: PaymentRequest) -> OpenedPayment:
        """Precreate the trade (alipay.trade.precreate) and give its qr_code. A repeat for the same
        out_trade_no is answered by Alipay for the same trade."""
        if request.amount_fen <= 0:
            raise ProviderError(f"PARAM_ERROR: amount_fen must be positive, not {request.amount_fen}")
        call = functools.partial(
            self._client.api_alipay_trade_precreate,
            subject=request.description[:SUBJECT_MAX] or request.out_trade_no,
            out_trade_no=request.out_trade_no,
            total_amount=yuan(request.amount_fen),
            notify_url=self._config.notify_url,
            time_expire=china_time(request.expires_at),
        )
        answer = await self._call("precreate", call)
        qr_code = answer.get("qr_code")
        if answer.get("code") != OK or not isinstance(qr_code, str) or not qr_code:
            raise ProviderError(_error(f"precreate {request.out_trade_no}", answer))
        return OpenedPayment(pay_url=qr_code)

    async def query(self, out_trade_no: str) -> TradeStatus:
        answer = await self._call("query", functools.partial(self._client.api_alipay_trade_query, out_trade_no))
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            raise ProviderError(f"ORDER_NOT_EXIST: {out_trade_no}")
        if answer.get("code") != OK:
            raise ProviderError(_error(f"query {out_trade_no}", answer))
        try:
            return TradeStatus(
                out_trade_no=out_trade_no,
                state=_STATES.get(str(answer.get("trade_status")), TradeState.NOTPAY),
                amount_fen=fen(str(answer.get("total_amount", "0"))),
                transaction_id=str(answer.get("trade_no") or ""),
                paid_at=from_china_time(str(answer.get("send_pay_date") or "")),
            )
        except ValueError as exc:
            raise ProviderError(f"alipay query {out_trade_no}: a malformed answer: {exc}") from exc

    async def close(self, out_trade_no: str) -> None:
        """Closed; a trade never scanned, paid or already closed is left as it is."""
        call = functools.partial(self._client.api_alipay_trade_close, out_trade_no=out_trade_no)
        answer = await self._call("close", call)
        if answer.get("code") == OK or answer.get("sub_code") in _CLOSED_ALREADY:
            return
        raise ProviderError(_error(f"close {out_trade_no}", answer))

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        """alipay.trade.refund with out_request_no = out_refund_no, so a repeat refunds nothing
        more (Alipay answers it as done, fund_change "N"). Alipay settles a refund in its answer;
        its id is our out_refund_no (Alipay has no refund id of its own)."""
        call = functools.partial(
            self._client.api_alipay_trade_refund,
            refund_amount=yuan(amount_fen),
            out_trade_no=out_trade_no,
            out_request_no=out_refund_no,
            refund_reason=reason[:REF_MAX],
        )
        answer = await self._call("refund", call)
        if answer.get("code") == OK:
            return RefundResult(refund_id=out_refund_no, succeeded=True)
        if answer.get("code") == "20000" or answer.get("sub_code") in _TRY_AGAIN:
            raise ProviderError(_error(f"refund {out_refund_no}", answer))
        return RefundResult(refund_id="", succeeded=False)  # refused for good: not paid, too much

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """A notification (a form POST) whose RSA2 signature over its sorted parameters, less sign
        and sign_type, is Alipay's, and which is addressed to our app id; else BadNotification."""
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadNotification("malformed_body") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise BadNotification("malformed_body")  # a parameter given twice
        signature = params.pop("sign", "")
        sign_type = params.pop("sign_type", "RSA2")
        if not signature:
            raise BadNotification("missing_signature")
        if sign_type != "RSA2":
            raise BadNotification("unsupported_signature_type")
        signed = {key: value for key, value in params.items() if value != ""}  # empty ones are not signed
        try:
            good = bool(self._client.verify(signed, signature))
        except Exception:  # a signature that is not base64, or of the wrong length
            good = False
        if not good:
            raise BadNotification("bad_signature")
        try:
            notice = _Notice.model_validate(params)
        except ValidationError:
            raise BadNotification("malformed_body") from None
        if notice.app_id != self._config.app_id:
            raise BadNotification("wrong_app")
        try:
            if notice.refund_fee or notice.out_biz_no:  # a refund's notification, not a payment's
                event_type, amount_fen, paid_at = "REFUND.SUCCESS", fen(notice.refund_fee or "0"), None
            else:
                event_type = {
                    "TRADE_SUCCESS": "TRANSACTION.SUCCESS",
                    "TRADE_FINISHED": "TRANSACTION.SUCCESS",
                    "TRADE_CLOSED": "TRANSACTION.CLOSED",
                }.get(notice.trade_status, f"TRANSACTION.{notice.trade_status[:20]}")
                amount_fen, paid_at = fen(notice.total_amount), from_china_time(notice.gmt_payment)
        except ValueError:
            raise BadNotification("malformed_body") from None
        return Notification(
            notification_id=notice.notify_id,
            event_type=event_type,
            out_trade_no=notice.out_trade_no,
            transaction_id=notice.trade_no,
            amount_fen=amount_fen,
            paid_at=paid_at,
            body=params,
        )

    def acknowledge(self, outcome: str) -> Acknowledgement:
        """The plain text "success": anything else and Alipay delivers again."""
        return Acknowledgement(body=b"success", media_type="text/plain")


def _error(what: str, answer: Mapping[str, Any]) -> str:
    code = answer.get("sub_code") or answer.get("code") or "UNKNOWN"
    return f"{code}: {what}: {str(answer.get('sub_msg') or answer.get('msg') or '')[:200]}"
