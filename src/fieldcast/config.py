"""All settings in one place, read once from FIELDCAST_* environment variables."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
PaymentProviderName = Literal["sandbox", "wechatpay", "alipay"]


class Settings(BaseSettings):
    """Deployment settings. Backend choice is made from the URLs here, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="FIELDCAST_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the SQLite file, secret key and media live by default."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite file in data_dir.")
    database_pool_size: int = Field(default=10, ge=1, le=500, description="Database connections kept per process.")
    database_max_overflow: int = Field(
        default=20, ge=0, le=500, description="Extra connections a process may open at a peak, beyond the pool."
    )
    database_pool_timeout_s: float = Field(
        default=10,
        gt=0,
        le=120,
        description="How long a request waits for a free connection before it is answered 503 (busy, retry).",
    )
    redis_url: str = Field(default="", description="Redis URL; empty = in-process bus and counters.")
    secret_key: str = Field(default="", description="Signs cookies and keys hashes; empty = generated into data_dir.")
    media_dir: Path | None = Field(default=None, description="Uploaded and streamed media; default data_dir/media.")
    host: str = Field(default="127.0.0.1", description="Address `fieldcast serve` and `fieldcast fanout` listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `fieldcast serve` listens on.")
    fanout_port: int = Field(
        default=8100, ge=1, le=65535, description="Port `fieldcast fanout` serves room sockets on."
    )
    room_sweep_rest: float = Field(
        default=0.25,
        ge=0,
        le=4,
        description="Rest between chunks of a room's sweep over its sockets, as a fraction of the chunk's time.",
    )
    default_language: Language = Field(
        default="zh-CN", description="UI language when the browser asks for neither supported one: zh-CN or en."
    )
    public_url: str = Field(default="", description="Absolute base URL used in links; empty = from request.")
    secure_cookies: bool = Field(default=False, description="Mark cookies Secure (set behind HTTPS).")
    session_max_age_s: int = Field(default=14 * 24 * 3600, ge=300, description="Sign-in session lifetime in seconds.")
    verification_valid_days: int = Field(
        default=365, ge=1, le=3650, description="How long an approved host verification stays valid."
    )
    invitation_valid_days: int = Field(
        default=14, ge=1, le=365, description="How long an organisation invitation can be accepted."
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body accepted.")
    max_upload_bytes: int = Field(default=10 * 1_048_576, ge=1024, description="Limit for file uploads.")
    # -- CPU-heavy work and abuse limits (accounts/throttle.py, offload.py) ----------------------
    worker_threads: int = Field(
        default=2, ge=1, le=64, description="Password hashes and image decodes running at once, per process."
    )
    image_max_megapixels: float = Field(
        default=24, gt=0, le=200, description="Uploaded images with more pixels are refused before decoding."
    )
    image_memory_budget_mb: int = Field(
        default=256, ge=32, le=65536, description="Memory the image decodes of one process may hold at once."
    )
    sign_in_failures_per_address: int = Field(
        default=30, ge=1, description="Failed sign-ins from one client address in 15 min before it must wait."
    )
    sign_ups_per_address_per_hour: int = Field(default=10, ge=1, description="Accounts one client address may create.")
    organisations_per_address_per_hour: int = Field(
        default=5, ge=1, description="Organisations one client address may create."
    )
    uploads_per_user_per_10_min: int = Field(default=60, ge=1, description="Images one user may upload.")
    demo: bool = Field(default=False, description="Set by `fieldcast demo`; shows the demo banner.")
    # -- live video -------------------------------------------------------------------------------
    hls_dir: Path | None = Field(default=None, description="HLS output (live/ and replay/); default data_dir/hls.")
    hls_base_url: str = Field(
        default="/hls", description="URL prefix the HLS folder is served under (the app, or nginx in production)."
    )
    recordings_dir: Path | None = Field(
        default=None, description="Raw recordings that become replays; default data_dir/recordings."
    )
    rtmp_url: str = Field(
        default="",
        description="nginx-rtmp application URL the app publishes to (rtmp://127.0.0.1:1935/live); "
        "empty = embedded ffmpeg ingest.",
    )
    rtmp_public_url: str = Field(default="", description="RTMP URL shown to hosts for OBS; default rtmp_url.")
    media_hook_secret: str = Field(
        default="", description="Shared secret nginx sends with its callbacks; empty = loopback callers only."
    )
    reconnect_grace_s: float = Field(
        default=30.0, ge=0, le=3600, description="How long a dropped stream may reconnect before the show ends."
    )
    ingest_watchdog_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="How often each app process checks the live shows' ingest (their newest HLS file) "
        "and ends a show whose stream is gone even if no callback said so; 0 = never.",
    )
    ingest_stale_s: float = Field(
        default=15.0,
        ge=1,
        le=600,
        description="A live show whose newest HLS file is older than this has lost its stream "
        "(the reconnect grace period then runs).",
    )
    recording_keep_days: float = Field(
        default=0.0,
        ge=0,
        le=3650,
        description="Days raw recordings are kept after their replay was verified playable; 0 = deleted then.",
    )
    media_gc_interval_s: float = Field(
        default=3600.0,
        ge=0,
        le=86400,
        description="How often each app process runs the media clean-up (`fieldcast media-gc`); 0 = never.",
    )
    ffmpeg_path: str = Field(default="", description="ffmpeg binary; empty = the one imageio-ffmpeg ships.")
    live_still_interval_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How often a live room's card picture is grabbed from its HLS (one ffmpeg at a time); 0 = never.",
    )
    clip_cut_poll_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="How often each app process looks for clips waiting to be cut (a new clip also wakes "
        "its own process at once); 0 = this process never cuts.",
    )
    clip_lead_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="A clip cut around an 'explaining now' mark starts this long before the mark.",
    )
    clip_around_length_s: float = Field(
        default=30.0,
        ge=5,
        le=180,
        description="A clip cut around an 'explaining now' mark runs this long after the mark (5-180 s).",
    )
    clip_view_window_s: int = Field(
        default=1800,
        ge=60,
        le=86400,
        description="A viewer's views of one clip count once per window of this many seconds.",
    )
    upkeep: bool = Field(
        default=True,
        description="Run the periodic upkeep in this process (expiry, reconciler, deliveries, refund deadlines, "
        "integrity rules while shows sell, clean-up). Every process may; off where another process does it.",
    )
    flash_claims: bool = Field(
        default=True,
        description="With Redis: a flash sale's taps with an Idempotency-Key are decided in Redis and answered "
        "202 with a claim, and each process writes the claimed orders just behind; false: they wait for the order.",
    )
    flash_claim_idle_s: float = Field(
        default=30.0,
        ge=0.5,
        le=3600,
        description="A flash-sale claim handed to a process that has not written it this long (the process died) "
        "is taken over by another.",
    )
    warm_routes: bool = Field(
        default=True,
        description="Build every route's request handling at start-up (about a second of CPU) rather than "
        "on the first requests, so that a flash sale's first buyers do not pay for it.",
    )
    # -- commerce ----------------------------------------------------------------------------------
    order_pay_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="How long an order waits for payment before it expires."
    )
    order_auto_confirm_days: int = Field(
        default=10, ge=1, le=60, description="Days after shipping when an unconfirmed delivery confirms itself."
    )
    tracking_provider: Literal["manual"] = Field(
        default="manual", description="Where tracking statuses come from; manual = typed in or uploaded by suppliers."
    )
    refund_auto_approve_days: int = Field(
        default=2,
        ge=1,
        le=30,
        description="Days a refund request may wait for the supplier's answer before it is approved automatically.",
    )
    # -- integrity: rules over stored sales (fieldcast.integrity.rules) ----------------------------
    integrity_refund_window_days: int = Field(
        default=7,
        ge=1,
        le=60,
        # 7: China's "seven days without reason" return right; a refund wave staged to undo a show's
        # sales lands inside it, while later refunds are mostly ordinary after-sales.
        description="Days after a show ends within which refunds of its orders count as 'soon after the show'.",
    )
    integrity_refund_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        # 0.3: ordinary fresh-produce refund rates in live commerce run around 5-15 %; a third of a
        # show's paid orders refunded within a week is well past that and worth a person's look.
        description="Share of a show's paid orders refunded within the window above which an alert is raised.",
    )
    integrity_refund_min_orders: int = Field(
        default=5,
        ge=1,
        le=10_000,
        # 5: with fewer paid orders one refund alone is 20 % or more; below this the share says nothing.
        description="Paid orders a show needs before the refund share is judged.",
    )
    integrity_quota_fen: list[PositiveInt] = Field(
        default=[5000, 10000, 20000, 50000],
        min_length=1,
        # The round sums seen in 2020's 'minimum spend per cadre' notices (50, 100, 200, 500 yuan).
        description="Round per-buyer quotas (fen) that forced apportionment (摊派) is measured against.",
    )
    integrity_quota_min_buyers: int = Field(
        default=5,
        ge=2,
        le=10_000,
        # 5: two or three honest buyers may well spend the same round sum; five or more landing just
        # on or above one round figure in one show is the shape of an assigned quota.
        description="Buyers whose show totals fall in [Q, Q×1.1) needed to raise a forced-quota alert.",
    )
    integrity_watch_delay_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        # 30 s: an alert about a show that is selling is worth having while it sells, and a flash
        # sale's thousand orders inside 30 s make one run of the rules, not a thousand.
        description="Seconds after an order event before the rules run over its show while it sells (with upkeep).",
    )
    # -- analytics: a show's figures minute by minute (fieldcast.analytics) -------------------------
    analytics_sweep_s: float = Field(
        default=15.0,
        gt=0,
        le=600,
        # 15 s: a host's dashboard moves four times a minute; each pass reads only what moved.
        description="How often each process with upkeep samples live rooms' counters and counts the minutes whose "
        "orders, comments or coupon claims moved.",
    )
    # -- integrity: rules over a show's orders and buyers (fieldcast.integrity.rules_orders) --------
    integrity_org_min_buyers: int = Field(
        default=5,
        ge=2,
        le=10_000,
        # 5: two or three colleagues may well watch the same show; five staff of one bureau buying
        # is how "everyone in the office buys one" looks, the same floor as the quota rule's.
        description="Paying buyers of one outside organisation needed to raise a buyers-of-one-organisation alert.",
    )
    integrity_org_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        # 0.3: in a big show five members of one bureau are noise; a third of all buyers is not.
        description="Share of a show's paying buyers one outside organisation's members must reach.",
    )
    integrity_domain_min_buyers: int = Field(
        default=5,
        ge=2,
        le=10_000,
        # 5: as for organisations; public providers (qq.com, 163.com, …) are never counted.
        description="Paying buyers at one non-public mail domain needed to raise a one-domain alert.",
    )
    integrity_domain_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        # 0.3: ordinary buyers sign up with public mailboxes; a third at one private domain is an employer.
        description="Share of a show's paying buyers one non-public mail domain must reach.",
    )
    integrity_address_min_buyers: int = Field(
        default=5,
        ge=2,
        le=10_000,
        # 5: a household has two or three accounts; a village pick-up point can have more, which is
        # for a person to check: five is where one address stops looking like a family.
        description="Distinct paying buyers behind one phone, street address or payer account that raise an alert.",
    )
    integrity_new_account_hours: int = Field(
        default=48,
        ge=1,
        le=24 * 30,
        # 48: shows are announced a day or two ahead; accounts made for the figures are made then.
        description="Accounts created this many hours before a show starts (or during it) count as new.",
    )
    integrity_new_account_min_buyers: int = Field(
        default=5,
        ge=2,
        le=10_000,
        # 5: a show always brings a few newcomers; five one-off fresh accounts is a batch.
        description="New accounts that bought only in the show (and did not sign in again) needed for an alert.",
    )
    integrity_new_account_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        # 0.3: newcomers are welcome; a third of the buyers being one-off fresh accounts is not growth.
        description="Share of a show's paying buyers the one-off new accounts must reach.",
    )
    integrity_restage_window_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        # 30: twice the payment window (15 min), so an order left to expire and placed again counts.
        description="Minutes after an order closed unpaid within which the same order placed again is a re-stage.",
    )
    integrity_restage_min_pairs: int = Field(
        default=3,
        ge=2,
        le=10_000,
        # 3: buyers cancel and re-order now and then (a wrong address); one or two in a show is ordinary.
        description="Cancel-and-replace pairs (by one party, or across the show) that raise a re-staged-orders alert.",
    )
    integrity_restage_share: float = Field(
        default=0.02,
        gt=0,
        le=1,
        # 0.02: buyers re-order the same to fix an address now and then, about one in a hundred; when
        # no one party reaches the pairs above, twice that share of a show's buyers re-staging is
        # not that, while a big show's handful of ordinary re-orders stays quiet.
        description="Share of a show's buyers who re-staged an order, for pairs spread over several buyers.",
    )
    integrity_large_order_units: int = Field(
        default=50,
        ge=2,
        le=100_000,
        # 50: a family buys a few boxes; fifty units in one order is a canteen's or a company's.
        description="Units in one order from which an order closed unpaid counts as a large order never paid.",
    )
    integrity_large_order_fen: int = Field(
        default=500_000,
        ge=1,
        le=10**12,
        # 500000 fen (5000 yuan): well above any household's basket in a produce show.
        description="Total (fen) from which an order closed unpaid counts as a large order never paid.",
    )
    integrity_negative_review_max_rating: int = Field(
        default=2,
        ge=1,
        le=4,
        # 2: one or two stars is how buyers say "bad" on every Chinese shop (差评); three is "middling"
        # (中评). A removed review at or below this counts as negative even without a negative word.
        description="Star rating at or below which a removed review counts as negative (rule negative_removed).",
    )
    # Fake traffic: rules over the room sockets' journal (fieldcast.integrity.rules_traffic).
    integrity_heartbeat_grace_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        # 30: the room page pings every 25 s; a connection alive past 30 s has pinged at least once.
        description="Seconds a room connection may live without a heartbeat before it counts as silent.",
    )
    integrity_silent_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        # 0.5: phones that block autoplay leave some honest viewers without a playback report, but
        # not half of a show's connections; scripted sockets neither ping nor play.
        description="Share of a show's connections without playback or heartbeat above which an alert is raised.",
    )
    integrity_silent_min_connections: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        # 10: below that one or two viewers who never pressed play make up the share alone.
        description="Connections a show needs before the share of silent connections is judged.",
    )
    integrity_burst_joins: int = Field(
        default=15,
        ge=2,
        le=1_000_000,
        # 15: a family or an office behind one address opens a handful of phones, not fifteen in
        # seconds; a carrier NAT spreads its customers' joins over the whole show.
        description="Joins from one address, network (/24, IPv6 /48) or device cookie within the window: a burst.",
    )
    integrity_burst_window_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        # 10: a script opens its sockets within a second or two; people arrive over minutes.
        description="Seconds within which the burst's joins must fall.",
    )
    integrity_unsupported_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        # 0.3: honest viewers who leave before their first heartbeat or play are a few percent of a
        # figure; a third of it with nobody watching through the connections is inflation.
        description="Share of a published viewer figure (peak, unique) the journal does not back that raises an alert.",
    )
    integrity_unsupported_min_viewers: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        # 10: for smaller figures one early leaver is a large share and the figure impresses nobody.
        description="Published viewers a figure needs before it is compared with the journal.",
    )
    integrity_like_rate_per_s: float = Field(
        default=4.0,
        gt=0,
        le=20,
        # 4: a person taps the heart in bursts of a few a second and then watches; averaged over
        # their whole time in the room that stays well below 4 a second, while a script held at the
        # socket caps (room_feed.SOCKET_REACTION_CAPS: 300 a minute) averages 5 or more.
        description="Likes per second of connected time above which a connection is not a person tapping.",
    )
    integrity_like_min_s: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        # 10: a connection of a few seconds with one quick burst of taps is a person; the rate is
        # judged on connections that stayed at least this long.
        description="Seconds a connection must have lasted before its like rate is judged.",
    )
    # -- payments: the in-process provider (behaves like WeChat Pay's Native flow) ---------------
    payment_sandbox_secret: str = Field(
        default="", description="Signs the sandbox provider's notifications; empty = derived from the secret key."
    )
    payment_sandbox_duplicate_rate: float = Field(
        default=0.1, ge=0, le=1, description="Share of sandbox notifications delivered twice (the same id)."
    )
    payment_sandbox_late_rate: float = Field(
        default=0.1, ge=0, le=1, description="Share of sandbox notifications held back payment_sandbox_late_s."
    )
    payment_sandbox_late_s: float = Field(
        default=5.0, ge=0, le=3600, description="How long a late sandbox notification waits before its first try."
    )
    # -- payments: which provider, and the real merchant accounts -------------------------------
    payment_provider: PaymentProviderName = Field(
        default="sandbox",
        description="Which payment provider runs: the in-process sandbox, WeChat Pay (APIv3) or Alipay.",
    )
    payment_notify_url: str = Field(
        default="",
        description="Where WeChat Pay or Alipay POST their notifications; "
        "empty = public_url + /api/v1/payments/notify/<provider>.",
    )
    payment_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="How long a call to WeChat Pay or Alipay may take."
    )
    wechatpay_mchid: str = Field(default="", description="WeChat Pay merchant id (商户号).")
    wechatpay_appid: str = Field(default="", description="AppID bound to the merchant (公众号/小程序/网站应用).")
    wechatpay_private_key_path: Path | None = Field(
        default=None, description="PEM file of the merchant API certificate's private key (apiclient_key.pem)."
    )
    wechatpay_cert_serial_no: str = Field(default="", description="Serial number of the merchant API certificate.")
    wechatpay_apiv3_key: str = Field(
        default="", description="APIv3 key (32 characters) that decrypts notifications' resource."
    )
    wechatpay_public_key_path: Path | None = Field(
        default=None, description="PEM file of the WeChat Pay public key (微信支付公钥) that signs its answers."
    )
    wechatpay_public_key_id: str = Field(default="", description="Its id (PUB_KEY_ID_...), sent as Wechatpay-Serial.")
    wechatpay_platform_cert_path: Path | None = Field(
        default=None,
        description="PEM file of the WeChat Pay platform certificate (instead of the public key and its id).",
    )
    wechatpay_gateway_url: str = Field(default="https://api.mch.weixin.qq.com", description="WeChat Pay API base URL.")
    alipay_app_id: str = Field(default="", description="Alipay application id (APPID).")
    alipay_private_key_path: Path | None = Field(
        default=None, description="PEM file of the application's RSA2 private key."
    )
    alipay_public_key_path: Path | None = Field(
        default=None, description="PEM file of the Alipay public key (支付宝公钥) that signs its answers."
    )
    alipay_gateway_url: str = Field(
        default="https://openapi.alipay.com/gateway.do", description="Alipay OpenAPI gateway URL."
    )
    demo_streams: bool = Field(default=True, description="With demo on, play test video into the demo's live rooms.")
    demo_audience: bool = Field(
        default=True, description="With demo on, demo viewers watch, like, comment and buy in the demo's live rooms."
    )
    # -- operations ------------------------------------------------------------------------------
    log_format: LogFormat = Field(
        default="text",
        description="Log lines of `fieldcast serve` and `fieldcast fanout`: text, or one JSON object a line.",
    )
    log_level: LogLevel = Field(default="info", description="debug, info, warning, error or critical.")
    access_log: bool = Field(
        default=False,
        description="Log every HTTP request (uvicorn's access log). Off by default: at show scale the line "
        "costs more than a cached page; nginx keeps its own.",
    )
    page_cache: bool = Field(
        default=True,
        description="Serve anonymous GETs of public pages and APIs from memory, rebuilt after each commit "
        "that changes public data (web/page_cache.py).",
    )
    page_cache_ttl_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest a cached page is kept even if no commit moved the data."
    )
    page_cache_max_mb: int = Field(default=64, ge=1, le=4096, description="Memory for cached pages, per process.")
    health_interval_s: float = Field(
        default=1.0, ge=0, le=60, description="/healthz checks the database and the bus at most this often."
    )
    api_docs: bool = Field(
        default=True, description="Serve the API's description (/openapi.json) and its docs page (/api/docs)."
    )
    metrics_enabled: bool = Field(default=False, description="Serve GET /metrics (Prometheus) to allowed callers.")
    metrics_token: str = Field(
        default="", description="Bearer token /metrics asks of every caller; empty = loopback callers only."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async driver URL for the configured database."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'fieldcast.sqlite3'}"
        return async_database_url(url)

    @cached_property
    def resolved_media_dir(self) -> Path:
        return (self.media_dir or self.data_dir / "media").expanduser().resolve()

    @cached_property
    def resolved_hls_dir(self) -> Path:
        return (self.hls_dir or self.data_dir / "hls").expanduser().resolve()

    @cached_property
    def resolved_recordings_dir(self) -> Path:
        return (self.recordings_dir or self.data_dir / "recordings").expanduser().resolve()

    @cached_property
    def resolved_public_url(self) -> str:
        """The site's absolute base URL for links used away from a request (a payment's pay URL,
        a notify URL): public_url, or this server's own address (127.0.0.1 when bound to all)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once into the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def async_database_url(url: str) -> str:
    """Map plain database URLs to the async drivers we ship (aiosqlite, asyncpg)."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; callers pass the result down."""
    return Settings(**overrides)  # type: ignore[arg-type]
