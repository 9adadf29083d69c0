"""WeChat Pay (APIv3, a directly connected merchant) behind the PaymentProvider Protocol, through
the wechatpayv3 SDK: Native pay (a code_url shown as a QR code), JSAPI pay (a prepay_id and the
signed parameters of the JS bridge), query, close, refund, and notifications whose signature is
checked against the WeChat Pay public key (or platform certificate) and whose resource is
decrypted with the APIv3 key (AEAD_AES_256_GCM).

The SDK is synchronous (requests): every call to WeChat Pay runs in a worker thread, never on the
event loop, and the callers (payments/actions.py) never hold a row lock meanwhile. Checking a
notification is local cryptography only: a notification signed under a serial we do not know is
refused before the SDK could go and fetch certificates."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import anyio.to_thread
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import rsa_verify

from fieldcast.db.base import utcnow
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
    json_acknowledgement,
)

NAME = "wechatpay"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
WINDOW_S = 300  # a notification signed further from now than this, either way, is refused
CHINA = ZoneInfo("Asia/Shanghai")
DESCRIPTION_MAX = 127
REASON_MAX = 80
# Trade states of WeChat Pay, as the Protocol knows them (USERPAYING: the buyer is entering a PIN).
_STATES = {
    "SUCCESS": TradeState.SUCCESS,
    "REFUND": TradeState.REFUND,
    "NOTPAY": TradeState.NOTPAY,
    "USERPAYING": TradeState.NOTPAY,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.CLOSED,
}
# Error codes after which closing has nothing left to do: never opened, already paid or closed.
_CLOSED_ALREADY = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ORDERPAID", "ORDER_PAID", "ORDERCLOSED"})
# Error codes worth asking again later (WeChat Pay's busy or short of funds), rather than failing.
_TRY_AGAIN = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "BIZERR_NEED_RETRY"})


@dataclass(frozen=True)
class WeChatPayConfig:
    """Everything the adapter needs, read and checked from settings by payments/providers.py.
    Keys are PEM text: the merchant's private key (PKCS#8) and WeChat Pay's public key, with the
    id WeChat Pay signs under (its public key id, or its platform certificate's serial)."""

    mchid: str
    appid: str
    private_key_pem: str
    cert_serial_no: str
    apiv3_key: str
    platform_public_key_pem: str
    platform_key_id: str
    notify_url: str
    gateway_url: str = "https://api.mch.weixin.qq.com"
    timeout_s: float = 10.0


@dataclass(frozen=True)
class JsapiPayment:
    """What the page inside WeChat passes to WeixinJSBridge 'getBrandWCPayRequest' (or wx.requestPayment):
    appId, timeStamp, nonceStr, package ("prepay_id=..."), signType ("RSA") and paySign."""

    prepay_id: str
    bridge_params: dict[str, str]


class _Amount(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: Annotated[int, Field(gt=0)]


class _Transaction(BaseModel):
    """The decrypted resource of a TRANSACTION.* notification (the fields we use)."""

    model_config = ConfigDict(frozen=True)

    mchid: str
    out_trade_no: Annotated[str, Field(min_length=1, max_length=TRADE_NO_MAX)]
    transaction_id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    trade_state: str
    amount: _Amount
    success_time: AwareDatetime | None = None


class _RefundAmount(BaseModel):
    model_config = ConfigDict(frozen=True)

    refund: Annotated[int, Field(gt=0)]


class _Refund(BaseModel):
    """The decrypted resource of a REFUND.* notification."""

    model_config = ConfigDict(frozen=True)

    mchid: str
    out_trade_no: Annotated[str, Field(min_length=1, max_length=TRADE_NO_MAX)]
    transaction_id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    out_refund_no: str
    refund_status: str
    amount: _RefundAmount


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    event_type: Annotated[str, Field(min_length=1, max_length=40)]


def china_time(moment: datetime) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes times (2026-11-27T20:30:00+08:00)."""
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def _json(message: object) -> dict[str, Any]:
    if isinstance(message, (bytes, str)) and message:
        try:
            parsed = orjson.loads(message)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _error(what: str, code: int, data: Mapping[str, Any]) -> str:
    return f"{data.get('code') or 'HTTP_' + str(code)}: {what}: {str(data.get('message') or '')[:200]}"


class WeChatPayProvider:
    """PaymentProvider over WeChat Pay's APIv3. Payments are opened as Native payments (the app's
    pay page shows the code_url as a QR code); `open_jsapi` opens one inside WeChat for a payer
    known by openid."""

    name = NAME

    def __init__(self, config: WeChatPayConfig, *, clock: Callable[[], datetime] = utcnow) -> None:
        if len(config.apiv3_key.encode()) != 32:
            raise ProviderConfigError("WeChat Pay: FIELDCAST_WECHATPAY_APIV3_KEY must be 32 bytes (AES-256).")
        try:
            self._client = WeChatPay(
                wechatpay_type=WeChatPayType.NATIVE,
                mchid=config.mchid,
                private_key=config.private_key_pem,
                cert_serial_no=config.cert_serial_no,
                appid=config.appid,
                apiv3_key=config.apiv3_key,
                notify_url=config.notify_url,
                timeout=config.timeout_s,
                public_key=config.platform_public_key_pem,
                public_key_id=config.platform_key_id,
            )
        except Exception as exc:  # the SDK raises bare Exceptions for unreadable keys
            raise ProviderConfigError(f"WeChat Pay: {exc}") from exc
        # The SDK has no setting for its base URL; a sandbox gateway or a test's fake sits here.
        self._client._core._gate_way = config.gateway_url.rstrip("/")
        self._public_key = self._client._core._public_key
        self._config = config
        self._clock = clock

    async def _call(self, what: str, call: Callable[[], tuple[int, object]]) -> tuple[int, dict[str, Any]]:
        """Run one SDK call in a worker thread. The SDK checks the answer's signature itself; a
        network error or a forged answer is a ProviderError (the caller tries again later)."""
        try:
            code, message = await anyio.to_thread.run_sync(call)
        except Exception as exc:  # requests' errors, the SDK's "failed to verify the signature"
            raise ProviderError(f"wechatpay {what}: {exc!r}") from exc
        return int(code), _json(message)

    async def _pay(self, request: PaymentRequest, pay_type: Any, payer: dict[str, str] | None) -> dict[str, Any]:
        if request.amount_fen <= 0:
            raise ProviderError(f"PARAM_ERROR: amount_fen must be positive, not {request.amount_fen}")
        call = functools.partial(
            self._client.pay,
            description=request.description[:DESCRIPTION_MAX] or request.out_trade_no,
            out_trade_no=request.out_trade_no,
            amount={"total": request.amount_fen, "currency": "CNY"},
            time_expire=china_time(request.expires_at),
            notify_url=self._config.notify_url,
            payer=payer,
            pay_type=pay_type,
        )
        code, data = await self._call("pay", call)
        if code != 200:
            raise ProviderError(_error(f"pay {request.out_trade_no}", code, data))
        return data

    async def create(self, request: PaymentRequest) -> OpenedPayment:
        """A Native payment; WeChat Pay answers a repeat (same out_trade_no, same amount) with the
        same code_url and refuses another amount (OUT_TRADE_NO_USED). Notifications go to the
        configured notify URL, the one registered with the merchant account."""
        data = await self._pay(request, WeChatPayType.NATIVE, None)
        code_url = data.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise ProviderError(f"wechatpay pay {request.out_trade_no}: no code_url in the answer")
        return OpenedPayment(pay_url=code_url)

    async def open_jsapi(self, request: PaymentRequest, openid: str) -> JsapiPayment:
        """A JSAPI payment for the payer `openid` (of this appid), and the bridge's parameters
        signed with the merchant key (RSA-SHA256 over appId, timeStamp, nonceStr, package)."""
        data = await self._pay(request, WeChatPayType.JSAPI, {"openid": openid})
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ProviderError(f"wechatpay jsapi {request.out_trade_no}: no prepay_id in the answer")
        timestamp = str(int(self._clock().timestamp()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = self._client.sign([self._config.appid, timestamp, nonce, package])
        return JsapiPayment(
            prepay_id=prepay_id,
            bridge_params={
                "appId": self._config.appid,
                "timeStamp": timestamp,
                "nonceStr": nonce,
                "package": package,
                "signType": "RSA",
                "paySign": pay_sign,
            },
        )

    async def query(self, out_trade_no: str) -> TradeStatus:
        code, data = await self._call("query", functools.partial(self._client.query, out_trade_no=out_trade_no))
        if code == 404 or data.get("code") == "ORDER_NOT_EXIST":
            raise ProviderError(f"ORDER_NOT_EXIST: {out_trade_no}")
        if code != 200:
            raise ProviderError(_error(f"query {out_trade_no}", code, data))
        try:
            amount = int(data.get("amount", {}).get("total", 0))
            paid_at = data.get("success_time")
            return TradeStatus(
                out_trade_no=out_trade_no,
                state=_STATES.get(str(data.get("trade_state")), TradeState.NOTPAY),
                amount_fen=amount,
                transaction_id=str(data.get("transaction_id") or ""),
                paid_at=datetime.fromisoformat(paid_at).astimezone(UTC) if isinstance(paid_at, str) else None,
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProviderError(f"wechatpay query {out_trade_no}: a malformed answer: {exc!r}") from exc

    async def close(self, out_trade_no: str) -> None:
        """Closed (204). A payment never opened, paid or already closed is left as it is: the app
        closes every expired payment, opened at WeChat Pay or not, and must not retry forever."""
        code, data = await self._call("close", functools.partial(self._client.close, out_trade_no=out_trade_no))
        if code in (200, 204) or (code < 500 and data.get("code") in _CLOSED_ALREADY):
            return
        raise ProviderError(_error(f"close {out_trade_no}", code, data))

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        """Refund through /v3/refund/domestic/refunds, idempotent per out_refund_no at WeChat Pay.
        The refund API needs the trade's total, so the trade is queried first. A refund still
        PROCESSING is a ProviderError: the relay asks again (the same out_refund_no answers the
        same refund's state) until it settles as SUCCESS, or CLOSED/ABNORMAL (failed)."""
        try:
            total = (await self.query(out_trade_no)).amount_fen
        except ProviderError as exc:
            if str(exc).startswith("ORDER_NOT_EXIST"):
                return RefundResult(refund_id="", succeeded=False)
            raise
        call = functools.partial(
            self._client.refund,
            out_refund_no=out_refund_no,
            amount={"refund": amount_fen, "total": total, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=reason[:REASON_MAX] or None,
            notify_url=self._config.notify_url,
        )
        code, data = await self._call("refund", call)
        if code == 200:
            refund_id, status = str(data.get("refund_id") or ""), data.get("status")
            if status == "PROCESSING":
                raise ProviderError(f"REFUND_PROCESSING: {out_refund_no} ({refund_id})")
            return RefundResult(refund_id=refund_id, succeeded=status == "SUCCESS")
        if code >= 500 or data.get("code") in _TRY_AGAIN:
            raise ProviderError(_error(f"refund {out_refund_no}", code, data))
        return RefundResult(refund_id="", succeeded=False)  # refused for good: not paid, too much

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """A notification WeChat Pay signed (RSA-SHA256 over timestamp, nonce and body, under the
        key id we know) within WINDOW_S of now, whose resource decrypts with our APIv3 key and is
        addressed to our merchant id; else BadNotification saying which check failed."""
        lowered = {name.lower(): value for name, value in headers.items()}
        signature = lowered.get("wechatpay-signature", "")
        timestamp = lowered.get("wechatpay-timestamp", "")
        nonce = lowered.get("wechatpay-nonce", "")
        serial = lowered.get("wechatpay-serial", "")
        signature_type = lowered.get("wechatpay-signature-type", SIGNATURE_TYPE)
        if not (signature and timestamp and nonce and serial):
            raise BadNotification("missing_signature_headers")
        if signature_type != SIGNATURE_TYPE:
            raise BadNotification("unsupported_signature_type")
        if serial != self._config.platform_key_id:  # never let the SDK fetch certificates from here
            raise BadNotification("unknown_serial")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadNotification("malformed_body") from None
        if not rsa_verify(timestamp, nonce, text, signature, self._public_key):
            raise BadNotification("bad_signature")
        try:
            signed_at = int(timestamp)
        except ValueError:
            raise BadNotification("bad_timestamp") from None
        age_s = self._clock().timestamp() - signed_at
        if age_s > WINDOW_S:
            raise BadNotification("stale_timestamp")
        if age_s < -WINDOW_S:
            raise BadNotification("future_timestamp")
        sdk_headers = {
            "Wechatpay-Signature": signature,
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": signature_type,
        }
        try:
            decrypted = self._client.callback(sdk_headers, text)
        except Exception:  # the SDK raises bare Exceptions on an unknown algorithm or bad JSON
            raise BadNotification("malformed_body") from None
        if not isinstance(decrypted, dict) or not isinstance(decrypted.get("resource"), dict):
            raise BadNotification("undecryptable_resource")  # tampered, or not our APIv3 key
        return self._notification(decrypted)

    def _notification(self, data: dict[str, Any]) -> Notification:
        try:
            envelope = _Envelope.model_validate(data)
            if envelope.event_type.startswith("REFUND."):
                refund = _Refund.model_validate(data["resource"])
                mchid, out_trade_no, txn_id = refund.mchid, refund.out_trade_no, refund.transaction_id
                amount_fen, paid_at = refund.amount.refund, None
            else:
                txn = _Transaction.model_validate(data["resource"])
                mchid, out_trade_no, txn_id = txn.mchid, txn.out_trade_no, txn.transaction_id
                amount_fen = txn.amount.total
                paid_at = txn.success_time.astimezone(UTC) if txn.success_time else None
        except ValidationError:
            raise BadNotification("malformed_resource") from None
        if mchid != self._config.mchid:
            raise BadNotification("wrong_merchant")
        event_type = envelope.event_type
        if event_type == "TRANSACTION.SUCCESS" and data["resource"].get("trade_state") != "SUCCESS":
            event_type = f"TRANSACTION.{str(data['resource'].get('trade_state'))[:20]}"
        return Notification(
            notification_id=envelope.id,
            event_type=event_type,
            out_trade_no=out_trade_no,
            transaction_id=txn_id,
            amount_fen=amount_fen,
            paid_at=paid_at,
            body=data,
        )

    def acknowledge(self, outcome: str) -> Acknowledgement:
        """HTTP 200 with {"code": "SUCCESS"}: WeChat Pay stops redelivering."""
        return json_acknowledgement(outcome)
