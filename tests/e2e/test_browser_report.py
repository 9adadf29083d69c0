"""The post-show report in the browser: a show with real orders from three provinces, two "explaining
now" marks, a shipped and reviewed order and an after-sales request ends; its owner opens the
report from the console, sees the charts with the marks and the map of China drawn, the feedback
grouped by tag with the buyer's words, and the print view (saved as PDF with its charts)."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS_DIR, NewContext
from tests.e2e.shows import api, ok, pay_for, person, sign_up
from tests.e2e.test_browser_buy import ShopRoom, _sign_in, open_shop, signed_in, start_show

ROLLUP_TIMEOUT_S = 60.0
WUHAN, SHENZHEN = "420106", "440305"  # 湖北省武汉市武昌区, 广东省深圳市南山区


def _buy(client: httpx.Client, session_id: int, sku_id: int, quantity: int) -> int:
    """The signed-in buyer orders `sku_id` in the room and pays in the sandbox; the order's id."""
    address_id = ok(client.get("/api/v1/me/addresses"))[0]["id"]
    items = [{"sku_id": sku_id, "quantity": quantity, "session_id": session_id}]
    return pay_for(client, items, address_id)


@contextlib.contextmanager
def _new_buyer(base_url: str, name: str, region_code: str) -> Iterator[httpx.Client]:
    """A buyer signed up on the returned client, with a default address in `region_code`."""
    with api(base_url) as client:
        sign_up(client, person("rep-", name, secrets.token_hex(3), "买家"))
        address = {"recipient": "李华", "phone": "13912345678", "region_code": region_code, "street": "中山路8号"}
        ok(client.post("/api/v1/me/addresses", json=address), 201)
        yield client


def _ended_show_with_orders(base_url: str) -> tuple[ShopRoom, int]:
    """A show that sold to buyers in 吉林, 湖北 and 广东 while its host explained two items, then
    ended; one order shipped, delivered and reviewed, another under an after-sales request."""
    shop = open_shop(base_url, "rep-")
    start_show(base_url, shop)
    with signed_in(base_url, shop.host) as host:
        ok(host.post(f"/api/v1/sessions/{shop.session_id}/pin", json={"sku_id": shop.pinned_sku}), 201)
        with signed_in(base_url, shop.buyer) as jilin:
            reviewed = _buy(jilin, shop.session_id, shop.pinned_sku, 3)
        with _new_buyer(base_url, "hubei", WUHAN) as hubei:
            refunded = _buy(hubei, shop.session_id, shop.pinned_sku, 2)
            request = {"kind": "refund_only", "reason": "too_slow", "amount_fen": 7900, "quantity": 1}
            request["note"] = "等了三天还没发货"
            ok(hubei.post(f"/api/v1/orders/{refunded}/refund-requests", json=request), 201)
        ok(host.post(f"/api/v1/sessions/{shop.session_id}/pin", json={"sku_id": shop.last_sku}), 201)
        with _new_buyer(base_url, "guangdong", SHENZHEN) as guangdong:
            _buy(guangdong, shop.session_id, shop.last_sku, 1)
        ok(host.post(f"/api/v1/sessions/{shop.session_id}/end"))
    with signed_in(base_url, shop.owner) as owner:
        tracking_no = "SF" + "".join(secrets.choice("0123456789") for _ in range(13))
        ok(owner.post(f"/api/v1/orders/{reviewed}/shipment", json={"carrier": "SF", "tracking_no": tracking_no}), 201)
    with signed_in(base_url, shop.buyer) as jilin:
        ok(jilin.post(f"/api/v1/orders/{reviewed}/confirm-delivery"))
        form = jilin.get(f"/orders/{reviewed}/review").text
        line_id = int(re.search(r'name="order_line_id" value="(\d+)"', form).group(1))  # type: ignore[union-attr]
        review = {
            "order_line_id": line_id,
            "rating": 3,
            "tags": [
                {"tag": "taste", "positive": True},
                {"tag": "packaging_size", "positive": False},
                {"tag": "delivery_speed", "positive": False},
            ],
            "body": "蓝莓很甜，但是包装太大了，快递也慢",
        }
        ok(jilin.post("/api/v1/reviews", json=review), 201)
    return shop, reviewed


def _wait_for_rollup(base_url: str, shop: ShopRoom, orders: int) -> None:
    """The app's roll-up counts the show's minutes within a few sweeps."""
    deadline = time.monotonic() + ROLLUP_TIMEOUT_S
    with signed_in(base_url, shop.owner) as owner:
        while ok(owner.get(f"/api/v1/sessions/{shop.session_id}/report"))["totals"]["orders"] < orders:
            assert time.monotonic() < deadline, "the roll-up never counted the show's orders"
            time.sleep(0.5)


def test_the_owner_opens_an_ended_shows_report_with_its_charts_map_feedback_and_print_view(
    new_context: NewContext, live_server: str
) -> None:
    shop, _reviewed = _ended_show_with_orders(live_server)
    _wait_for_rollup(live_server, shop, 3)
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(page, shop.owner, f"/live/{shop.session_id}/console")
    page.get_by_test_id("report-link").click()
    expect(page).to_have_url(re.compile(rf"/live/{shop.session_id}/report$"))
    report = page.get_by_test_id("report")
    expect(report).to_have_attribute("data-rendered", "true", timeout=15_000)
    expect(page.get_by_test_id("report-orders")).to_have_text("3 / 3")
    expect(page.get_by_test_id("report-buyers")).to_have_text("3")
    # Both charts drawn as SVG, with the two "explaining now" bands labelled with the product.
    for name in ("audience", "sales"):
        expect(page.locator(f"[data-chart={name}] svg")).to_have_count(1)
    expect(page.locator("[data-chart=sales] svg text", has_text=shop.title).first).to_be_attached()
    # The map of China: the provinces drawn (many paths), the three buying provinces in the table.
    assert page.locator("[data-chart=map] svg path").count() > 30
    provinces = page.get_by_test_id("report-provinces")
    for name in ("吉林省", "湖北省", "广东省"):
        expect(provinces).to_contain_text(name)
    # Feedback grouped by tag with the buyer's words; the after-sales reason with the note.
    tags = page.get_by_test_id("report-review-tags")
    expect(tags.locator("tr[data-tag=packaging_size]")).to_contain_text("包装太大了")
    expect(tags.locator("tr[data-tag=packaging_size] [data-testid=tag-bad]")).to_contain_text("1")
    expect(page.get_by_test_id("report-refund-reasons").locator("tr[data-reason=too_slow]")).to_contain_text(
        "等了三天还没发货"
    )
    expect(page.get_by_test_id("ship-on-time")).to_have_text("1")
    expect(page.get_by_test_id("report-integrity-link")).to_be_visible()
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "report.png"), full_page=True)

    # The print view: no site header, the charts as SVG, saved as PDF by the browser.
    page.get_by_test_id("report-print-view").click()
    expect(page).to_have_url(re.compile(r"\?print=1$"))
    expect(report).to_have_attribute("data-rendered", "true", timeout=15_000)
    expect(page.locator(".site-header")).to_have_count(0)
    expect(page.locator("[data-chart=map] svg")).to_have_count(1)
    page.emulate_media(media="print")
    expect(page.get_by_test_id("report-xlsx")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS_DIR / "report-print.png"), full_page=True)
    pdf = page.pdf(path=str(ARTIFACTS_DIR / "report.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
