"""Local fakes of WeChat Pay's APIv3 and Alipay's OpenAPI gateway: real HTTP servers on 127.0.0.1
(a thread of the test process) that check the merchant's request signatures, keep their own
ledger, sign their answers, and make notifications signed and encrypted as each provider
documents, with keys the test generates. The adapters' real cryptography runs against them."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHINA = ZoneInfo("Asia/Shanghai")


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def rsa_sha256(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_sha256_ok(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


class _Server:
    """A ThreadingHTTPServer on a free loopback port; `handle(method, target, headers, body)`."""

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    @contextmanager
    def serving(self) -> Iterator[str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = fake.handle(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
                self.send_response(answer.status)
                for name, value in fake.answer_headers(answer).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = _any

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def answer_headers(self, answer: Answer) -> dict[str, str]:
        return {"Content-Type": answer.content_type}


# -- WeChat Pay APIv3 -------------------------------------------------------------------------------


@dataclass
class WxTrade:
    out_trade_no: str
    amount_fen: int
    notify_url: str
    appid: str
    transaction_id: str = field(default_factory=lambda: "4200" + f"{secrets.randbelow(10**24):024d}")
    state: str = "NOTPAY"
    success_time: str | None = None
    refunded_fen: int = 0


@dataclass
class WeChatPayFake(_Server):
    """WeChat Pay's side: checks each request's Authorization (WECHATPAY2-SHA256-RSA2048, RSA-SHA256
    over method, path, timestamp, nonce, body), signs each answer with the platform key under
    `key_id`, and makes notifications whose resource is AEAD_AES_256_GCM under the APIv3 key."""

    mchid: str = "1900000109"
    appid: str = "wxd678efh567hg6787"
    cert_serial_no: str = "3775B6A45ACD588826D15E583A95F5DD********"
    key_id: str = "PUB_KEY_ID_0119000001092025112700000000001234"
    apiv3_key: str = "fieldcastfieldcastfieldcast12345"  # 32 bytes
    merchant_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    platform_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    trades: dict[str, WxTrade] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    refund_requests: int = 0
    refunds_processing_first: bool = False  # answer PROCESSING to a refund's first request
    forge_answers: bool = False  # sign answers with a key that is not the platform's

    def write_keys(self, folder: Path) -> dict[str, object]:
        """The settings of a merchant account at this fake, keys written to `folder`."""
        (folder / "apiclient_key.pem").write_bytes(private_pem(self.merchant_key))
        (folder / "wechatpay_pub_key.pem").write_bytes(public_pem(self.platform_key))
        return {
            "payment_provider": "wechatpay",
            "wechatpay_mchid": self.mchid,
            "wechatpay_appid": self.appid,
            "wechatpay_private_key_path": folder / "apiclient_key.pem",
            "wechatpay_cert_serial_no": self.cert_serial_no,
            "wechatpay_apiv3_key": self.apiv3_key,
            "wechatpay_public_key_path": folder / "wechatpay_pub_key.pem",
            "wechatpay_public_key_id": self.key_id,
        }

    # the wire

    def signed(
        self, body: bytes, *, key: rsa.RSAPrivateKey | None = None, at: datetime | None = None
    ) -> dict[str, str]:
        timestamp = str(int((at or datetime.now(UTC)).timestamp()))
        nonce = secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n{body.decode()}\n"
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": rsa_sha256(key or self.platform_key, message),
            "Wechatpay-Serial": self.key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def answer_headers(self, answer: Answer) -> dict[str, str]:
        key = new_key() if self.forge_answers else None
        return {"Content-Type": answer.content_type, **self.signed(answer.body, key=key)}

    def _authorized(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, rest = auth.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return False
        parts = dict(part.split("=", 1) for part in rest.split(","))
        fields = {k.strip(): v.strip().strip('"') for k, v in parts.items()}
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.cert_serial_no:
            return False
        message = f"{method}\n{target}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body.decode()}\n"
        return rsa_sha256_ok(self.merchant_key.public_key(), message, fields.get("signature", ""))

    @staticmethod
    def _json(status: int, data: dict[str, Any] | None = None) -> Answer:
        return Answer(status, json.dumps(data, ensure_ascii=False).encode() if data is not None else b"")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        if not self._authorized(method, target, headers, body):
            return self._json(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        path = urlsplit(target).path
        data = json.loads(body) if body else {}
        if method == "POST" and path in ("/v3/pay/transactions/native", "/v3/pay/transactions/jsapi"):
            return self._pay(path.rsplit("/", 1)[1], data)
        if method == "GET" and path.startswith("/v3/pay/transactions/out-trade-no/"):
            trade = self.trades.get(path.rsplit("/", 1)[1])
            if trade is None:
                return self._json(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            return self._json(200, self._transaction(trade))
        if method == "POST" and path.endswith("/close"):
            trade = self.trades.get(path.split("/")[-2])
            if trade is None:
                return self._json(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            if trade.state == "NOTPAY":
                trade.state = "CLOSED"
            return self._json(204)
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._refund(data)
        return self._json(404, {"code": "NOT_FOUND", "message": path})

    def _pay(self, kind: str, data: dict[str, Any]) -> Answer:
        out_trade_no, total = data["out_trade_no"], data["amount"]["total"]
        if data.get("mchid") != self.mchid or data.get("appid") != self.appid or not data.get("notify_url"):
            return self._json(400, {"code": "PARAM_ERROR", "message": "mchid, appid, notify_url"})
        if kind == "jsapi" and not data.get("payer", {}).get("openid"):
            return self._json(400, {"code": "PARAM_ERROR", "message": "payer.openid"})
        trade = self.trades.setdefault(
            out_trade_no, WxTrade(out_trade_no, total, notify_url=data["notify_url"], appid=data["appid"])
        )
        if trade.amount_fen != total:
            return self._json(400, {"code": "INVALID_REQUEST", "message": "OUT_TRADE_NO_USED"})
        token = trade.transaction_id[-12:]
        if kind == "native":
            return self._json(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={token}"})
        return self._json(200, {"prepay_id": f"wx{token}"})

    def _transaction(self, trade: WxTrade) -> dict[str, Any]:
        return {
            "appid": trade.appid,
            "mchid": self.mchid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": "NATIVE",
            "trade_state": trade.state,
            "trade_state_desc": "",
            "success_time": trade.success_time,
            "amount": {"total": trade.amount_fen, "payer_total": trade.amount_fen, "currency": "CNY"},
        }

    def _refund(self, data: dict[str, Any]) -> Answer:
        self.refund_requests += 1
        out_refund_no = data["out_refund_no"]
        trade = self.trades.get(data.get("out_trade_no", ""))
        if trade is None:
            return self._json(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        amount = data["amount"]
        done = self.refunds.get(out_refund_no)
        if done is None:
            if trade.state not in ("SUCCESS", "REFUND"):
                return self._json(400, {"code": "INVALID_REQUEST", "message": "订单未支付"})
            if amount["total"] != trade.amount_fen or trade.refunded_fen + amount["refund"] > trade.amount_fen:
                return self._json(400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单金额"})
            trade.refunded_fen += amount["refund"]
            if trade.refunded_fen == trade.amount_fen:
                trade.state = "REFUND"
            done = self.refunds[out_refund_no] = {
                "refund_id": "5030" + f"{secrets.randbelow(10**24):024d}",
                "out_refund_no": out_refund_no,
                "out_trade_no": trade.out_trade_no,
                "transaction_id": trade.transaction_id,
                "status": "PROCESSING" if self.refunds_processing_first else "SUCCESS",
                "amount": {"refund": amount["refund"], "total": trade.amount_fen, "currency": "CNY"},
            }
        elif done["status"] == "PROCESSING":
            done["status"] = "SUCCESS"  # settled by the time it is asked again
        return self._json(200, done)

    # the buyer pays; WeChat Pay notifies

    def buyer_pays(self, out_trade_no: str) -> None:
        trade = self.trades[out_trade_no]
        trade.state = "SUCCESS"
        trade.success_time = datetime.now(CHINA).replace(microsecond=0).isoformat()

    def encrypt(self, resource: dict[str, Any], associated_data: str) -> dict[str, str]:
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay's
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), associated_data.encode()
        )
        return {
            "original_type": associated_data,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data,
            "nonce": nonce,
        }

    def payment_notification(self, out_trade_no: str, notification_id: str | None = None) -> bytes:
        resource = {**self._transaction(self.trades[out_trade_no]), "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}
        return self.notification_body(
            "TRANSACTION.SUCCESS", "支付成功", self.encrypt(resource, "transaction"), notification_id
        )

    def refund_notification(self, out_refund_no: str, notification_id: str | None = None) -> bytes:
        refund = self.refunds[out_refund_no]
        resource = {
            "mchid": self.mchid,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": "SUCCESS",
            "success_time": datetime.now(CHINA).replace(microsecond=0).isoformat(),
            "amount": {
                "total": refund["amount"]["total"],
                "refund": refund["amount"]["refund"],
                "payer_total": refund["amount"]["total"],
                "payer_refund": refund["amount"]["refund"],
            },
        }
        return self.notification_body("REFUND.SUCCESS", "退款成功", self.encrypt(resource, "refund"), notification_id)

    @staticmethod
    def notification_body(
        event_type: str, summary: str, resource: dict[str, str], notification_id: str | None
    ) -> bytes:
        return json.dumps(
            {
                "id": notification_id or str(uuid.uuid4()),
                "create_time": datetime.now(CHINA).replace(microsecond=0).isoformat(),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": resource,
            },
            ensure_ascii=False,
        ).encode()


# -- Alipay OpenAPI ---------------------------------------------------------------------------------


@dataclass
class AliTrade:
    out_trade_no: str
    total_amount: str
    subject: str
    trade_no: str = field(
        default_factory=lambda: datetime.now(CHINA).strftime("%Y%m%d") + f"22{secrets.randbelow(10**18):018d}"
    )
    status: str = "WAIT_BUYER_PAY"
    gmt_payment: str = ""
    refunded_fen: int = 0


def _fen(amount: str) -> int:
    yuan, _, cents = amount.partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def alipay_sign_content(params: dict[str, str], *, leave_out: tuple[str, ...] = ("sign", "sign_type")) -> str:
    """What is signed: the parameters but `leave_out` (a notification: sign and sign_type; a
    request: sign only), empty ones left out, sorted by name, as name=value joined by &, values
    unencoded."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in leave_out and v != "")


@dataclass
class AlipayFake(_Server):
    """Alipay's gateway: checks each request's RSA2 signature with the application's public key,
    answers {"<method>_response": {...}, "sign": RSA2 over that object's JSON text}, and makes
    asynchronous notifications signed RSA2 over the sorted parameters."""

    app_id: str = "2021000000000001"
    seller_id: str = "2088102000000001"
    app_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    alipay_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    trades: dict[str, AliTrade] = field(default_factory=dict)
    refunds: dict[tuple[str, str], str] = field(default_factory=dict)  # (out_trade_no, out_request_no) -> amount
    refund_requests: int = 0

    def write_keys(self, folder: Path) -> dict[str, object]:
        (folder / "app_private_key.pem").write_bytes(private_pem(self.app_key))
        # The Alipay console hands its public key out as one bare base64 line: so does this fake.
        der = self.alipay_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / "alipay_public_key.txt").write_bytes(base64.b64encode(der))
        return {
            "payment_provider": "alipay",
            "alipay_app_id": self.app_id,
            "alipay_private_key_path": folder / "app_private_key.pem",
            "alipay_public_key_path": folder / "alipay_public_key.txt",
        }

    def _answer(self, method: str, inner: dict[str, Any]) -> Answer:
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        name = method.replace(".", "_") + "_response"
        raw = f'{{"{name}":{text},"sign":"{rsa_sha256(self.alipay_key, text)}"}}'
        return Answer(200, raw.encode(), "application/json;charset=utf-8")

    @staticmethod
    def _failed(sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        params = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
        api = params.get("method", "")
        ok = params.get("sign_type") == "RSA2" and rsa_sha256_ok(
            self.app_key.public_key(), alipay_sign_content(params, leave_out=("sign",)), params.get("sign", "")
        )
        try:  # Alipay wants Beijing time, give or take a few minutes
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
            ok = ok and abs((datetime.now(UTC) - sent).total_seconds()) < 300
        except ValueError:
            ok = False
        if not ok or params.get("app_id") != self.app_id:
            error = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
                "sub_msg": "验签出错",
            }
            return Answer(200, json.dumps({"error_response": error}).encode())
        biz = json.loads(params.get("biz_content") or "{}")
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if api == "alipay.trade.precreate":
            if not params.get("notify_url"):
                return self._answer(api, self._failed("ACQ.INVALID_PARAMETER", "notify_url"))
            trade = self.trades.setdefault(
                biz["out_trade_no"], AliTrade(biz["out_trade_no"], biz["total_amount"], biz["subject"])
            )
            if trade.total_amount != biz["total_amount"]:
                return self._answer(api, self._failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"))
            return self._answer(
                api,
                {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": trade.out_trade_no,
                    "qr_code": f"https://qr.alipay.com/bax0{trade.trade_no[-10:]}",
                },
            )
        if trade is None:
            return self._answer(api, self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在"))
        if api == "alipay.trade.query":
            return self._answer(
                api,
                {
                    "code": "10000",
                    "msg": "Success",
                    "trade_no": trade.trade_no,
                    "out_trade_no": trade.out_trade_no,
                    "trade_status": trade.status,
                    "total_amount": trade.total_amount,
                    "send_pay_date": trade.gmt_payment,
                },
            )
        if api == "alipay.trade.close":
            if trade.status != "WAIT_BUYER_PAY":
                return self._answer(api, self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"))
            trade.status = "TRADE_CLOSED"
            return self._answer(
                api, {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}
            )
        if api == "alipay.trade.refund":
            return self._refund(api, trade, biz)
        return self._answer(api, self._failed("ACQ.INVALID_PARAMETER", api))

    def _refund(self, api: str, trade: AliTrade, biz: dict[str, Any]) -> Answer:
        self.refund_requests += 1
        key = (trade.out_trade_no, biz.get("out_request_no", trade.out_trade_no))
        fund_change = "N"
        if key not in self.refunds:
            amount = _fen(biz["refund_amount"])
            if trade.status not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return self._answer(api, self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"))
            if trade.refunded_fen + amount > _fen(trade.total_amount):
                return self._answer(api, self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"))
            trade.refunded_fen += amount
            self.refunds[key] = biz["refund_amount"]
            fund_change = "Y"
            if trade.refunded_fen == _fen(trade.total_amount):
                trade.status = "TRADE_CLOSED"
        return self._answer(
            api,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "fund_change": fund_change,
                "refund_fee": f"{trade.refunded_fen / 100:.2f}",
            },
        )

    # the buyer pays; Alipay notifies

    def buyer_pays(self, out_trade_no: str) -> None:
        trade = self.trades[out_trade_no]
        trade.status = "TRADE_SUCCESS"
        trade.gmt_payment = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")

    def notification(
        self,
        out_trade_no: str,
        *,
        notify_id: str | None = None,
        status: str | None = None,
        app_id: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, str]:
        trade = self.trades[out_trade_no]
        now = datetime.now(CHINA)
        params = {
            "notify_time": now.strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": notify_id or uuid.uuid4().hex + "hk",
            "app_id": app_id or self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": status or trade.status,
            "total_amount": trade.total_amount,
            "receipt_amount": trade.total_amount,
            "buyer_pay_amount": trade.total_amount,
            "subject": trade.subject,
            "seller_id": self.seller_id,
            "buyer_id": "2088102177846875",
            "gmt_create": (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "gmt_payment": trade.gmt_payment,
        }
        params["sign"] = rsa_sha256(key or self.alipay_key, alipay_sign_content(params))
        params["sign_type"] = "RSA2"
        return params


def form(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()
