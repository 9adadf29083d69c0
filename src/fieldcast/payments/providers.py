"""Which payment provider runs: picked here once, at start-up, by the composition root, from
`payment_provider` (sandbox | wechatpay | alipay). A real provider's settings are read and
checked here, keys loaded from their files, so that a missing or bad one stops the start with a
message naming the setting, never the first payment."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fieldcast.config import Settings
from fieldcast.db.engine import Database
from fieldcast.payments import alipay, wechatpay
from fieldcast.payments.provider import PaymentProvider, ProviderConfigError
from fieldcast.payments.routes import NOTIFY_PATH
from fieldcast.payments.sandbox import SandboxProvider, sandbox_secret


def make_payment_provider(settings: Settings, db: Database) -> PaymentProvider:
    """The provider `settings.payment_provider` names; ProviderConfigError if it cannot run."""
    if settings.payment_provider == wechatpay.NAME:
        return wechatpay.WeChatPayProvider(wechatpay_config(settings))
    if settings.payment_provider == alipay.NAME:
        return alipay.AlipayProvider(alipay_config(settings))
    return SandboxProvider(db.uow, base_url=settings.resolved_public_url, secret=sandbox_secret(settings))


def check_payment_settings(settings: Settings) -> None:
    """Build the configured real provider once, for nothing but its checks: the CLI calls this
    before serving, to stop with the message alone rather than a worker's traceback."""
    if settings.payment_provider == wechatpay.NAME:
        wechatpay.WeChatPayProvider(wechatpay_config(settings))
    elif settings.payment_provider == alipay.NAME:
        alipay.AlipayProvider(alipay_config(settings))


def provider_notify_url(settings: Settings, name: str) -> str:
    """Where the provider POSTs: payment_notify_url, or this site's public URL + the notify path.
    A real provider must reach it from outside, so the address of a request will not do."""
    if settings.payment_notify_url:
        url = settings.payment_notify_url
    elif settings.public_url:
        url = settings.public_url.rstrip("/") + NOTIFY_PATH.format(provider=name)
    else:
        raise ProviderConfigError(
            f"payment provider {name}: set FIELDCAST_PUBLIC_URL (or FIELDCAST_PAYMENT_NOTIFY_URL): "
            "the provider must reach this site to notify it of payments."
        )
    if not url.startswith(("https://", "http://")):
        raise ProviderConfigError(f"payment provider {name}: the notify URL must be absolute, not {url!r}.")
    return url


class _Problems:
    """The problems found in one provider's settings, told all at once."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.found: list[str] = []

    def require(self, env: str, value: str) -> str:
        if not value.strip():
            self.found.append(f"{env} is not set")
        return value.strip()

    def read(self, env: str, path: Path | None) -> bytes:
        if path is None:
            self.found.append(f"{env} is not set")
            return b""
        try:
            return path.expanduser().read_bytes()
        except OSError as exc:
            self.found.append(f"{env}: cannot read {path}: {exc.strerror}")
            return b""

    def notify_url(self, settings: Settings, name: str) -> str:
        try:
            return provider_notify_url(settings, name)
        except ProviderConfigError as exc:
            self.found.append(str(exc).removeprefix(f"payment provider {name}: ").rstrip("."))
            return ""

    def check(self) -> None:
        if self.found:
            raise ProviderConfigError(f"payment provider {self.provider}: " + "; ".join(self.found) + ".")


def _pem_or_bare(data: bytes) -> bytes:
    """A key file as PEM, or the bare base64 the merchant consoles hand out (one line, no armour):
    the DER it encodes."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        return text
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return text


def private_key_pem(problems: _Problems, env: str, data: bytes) -> str:
    """The RSA private key in the file as PKCS#8 PEM (what both SDKs read), or a problem."""
    if not data:
        return ""
    raw = _pem_or_bare(data)
    try:
        key = (
            serialization.load_pem_private_key(raw, password=None)
            if raw.startswith(b"-----BEGIN")
            else serialization.load_der_private_key(raw, password=None)
        )
    except (ValueError, TypeError) as exc:
        problems.found.append(f"{env}: not an unencrypted private key ({exc})")
        return ""
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        problems.found.append(f"{env}: not an RSA private key of 2048 bits or more")
        return ""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(problems: _Problems, env: str, data: bytes) -> str:
    """The RSA public key in the file as SubjectPublicKeyInfo PEM, or a problem."""
    if not data:
        return ""
    raw = _pem_or_bare(data)
    try:
        key = (
            serialization.load_pem_public_key(raw)
            if raw.startswith(b"-----BEGIN")
            else serialization.load_der_public_key(raw)
        )
    except (ValueError, TypeError) as exc:
        problems.found.append(f"{env}: not a public key ({exc})")
        return ""
    if not isinstance(key, rsa.RSAPublicKey):
        problems.found.append(f"{env}: not an RSA public key")
        return ""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def certificate_key(problems: _Problems, env: str, data: bytes) -> tuple[str, str]:
    """A WeChat Pay platform certificate's public key (PEM) and serial (upper-case hex, as the
    Wechatpay-Serial header names it); a problem if unreadable or out of its validity."""
    if not data:
        return "", ""
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        problems.found.append(f"{env}: not a PEM certificate ({exc})")
        return "", ""
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.found.append(
            f"{env}: the certificate is valid only {cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d}"
        )
        return "", ""
    pem = (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return pem, format(cert.serial_number, "X")


def wechatpay_config(settings: Settings) -> wechatpay.WeChatPayConfig:
    problems = _Problems(wechatpay.NAME)
    mchid = problems.require("FIELDCAST_WECHATPAY_MCHID", settings.wechatpay_mchid)
    appid = problems.require("FIELDCAST_WECHATPAY_APPID", settings.wechatpay_appid)
    serial = problems.require("FIELDCAST_WECHATPAY_CERT_SERIAL_NO", settings.wechatpay_cert_serial_no)
    apiv3_key = problems.require("FIELDCAST_WECHATPAY_APIV3_KEY", settings.wechatpay_apiv3_key)
    if apiv3_key and len(apiv3_key.encode()) != 32:
        problems.found.append("FIELDCAST_WECHATPAY_APIV3_KEY must be 32 bytes (it is the AES-256 key)")
    env = "FIELDCAST_WECHATPAY_PRIVATE_KEY_PATH"
    private_pem = private_key_pem(problems, env, problems.read(env, settings.wechatpay_private_key_path))
    if settings.wechatpay_platform_cert_path is not None:
        env = "FIELDCAST_WECHATPAY_PLATFORM_CERT_PATH"
        platform_pem, key_id = certificate_key(problems, env, problems.read(env, settings.wechatpay_platform_cert_path))
    else:
        env = "FIELDCAST_WECHATPAY_PUBLIC_KEY_PATH"
        if settings.wechatpay_public_key_path is None:
            problems.found.append(
                f"{env} (with FIELDCAST_WECHATPAY_PUBLIC_KEY_ID) or FIELDCAST_WECHATPAY_PLATFORM_CERT_PATH is not set"
            )
            platform_pem = key_id = ""
        else:
            platform_pem = public_key_pem(problems, env, problems.read(env, settings.wechatpay_public_key_path))
            key_id = problems.require("FIELDCAST_WECHATPAY_PUBLIC_KEY_ID", settings.wechatpay_public_key_id)
    gateway = _gateway(problems, "FIELDCAST_WECHATPAY_GATEWAY_URL", settings.wechatpay_gateway_url)
    notify_url = problems.notify_url(settings, wechatpay.NAME)
    problems.check()
    return wechatpay.WeChatPayConfig(
        mchid=mchid,
        appid=appid,
        private_key_pem=private_pem,
        cert_serial_no=serial,
        apiv3_key=apiv3_key,
        platform_public_key_pem=platform_pem,
        platform_key_id=key_id,
        notify_url=notify_url,
        gateway_url=gateway,
        timeout_s=settings.payment_timeout_s,
    )


def alipay_config(settings: Settings) -> alipay.AlipayConfig:
    problems = _Problems(alipay.NAME)
    app_id = problems.require("FIELDCAST_ALIPAY_APP_ID", settings.alipay_app_id)
    env = "FIELDCAST_ALIPAY_PRIVATE_KEY_PATH"
    private_pem = private_key_pem(problems, env, problems.read(env, settings.alipay_private_key_path))
    env = "FIELDCAST_ALIPAY_PUBLIC_KEY_PATH"
    public_pem = public_key_pem(problems, env, problems.read(env, settings.alipay_public_key_path))
    gateway = _gateway(problems, "FIELDCAST_ALIPAY_GATEWAY_URL", settings.alipay_gateway_url)
    notify_url = problems.notify_url(settings, alipay.NAME)
    problems.check()
    return alipay.AlipayConfig(
        app_id=app_id,
        private_key_pem=private_pem,
        alipay_public_key_pem=public_pem,
        notify_url=notify_url,
        gateway_url=gateway,
        timeout_s=settings.payment_timeout_s,
    )


def _gateway(problems: _Problems, env: str, url: str) -> str:
    if not url.startswith(("https://", "http://")):
        problems.found.append(f"{env} must be an http(s) URL, not {url!r}")
    return url
