"""What the room page gives the buy sheet and the live shelf (static/live/buy.js, shelf.js): the
server's clock, each card's stock, price, limit and flash start, Buy disabled for a flash sale not
started yet and for a sold-out item; the sheet only while the show is live; before and after it,
the cards lead to the product page. The browser side is tests/e2e/test_browser_buy.py."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from tests.factories import LiveOrg, schedule_session
from tests.live.test_pages import count_testid
from tests.web.test_i18n import zh


def card_of(page: httpx.Response, sku_id: int) -> str:
    """The first shelf card of `sku_id` (the pinned card, when it is pinned)."""
    found = re.search(
        rf'<li class="card shelf-card[^"]*" data-testid="shelf-item"\s+data-sku-id="{sku_id}".*?</li>', page.text, re.S
    )
    assert found, page.text
    return found.group(0)


async def test_a_live_room_gives_the_sheet_its_strings_and_each_card_its_state(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    shelf = [
        {
            "sku_id": live_org.inspected_sku,
            "live_price_fen": 7900,
            "session_stock": 5,
            "flash_starts_at": later.isoformat(),
            "per_buyer_limit": 2,
        },
        {"sku_id": live_org.uninspected_sku, "live_price_fen": 3900, "session_stock": 0},
    ]
    session = await schedule_session(live_org, shelf=shelf)
    sid = session["id"]
    assert (await live_org["host"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
    anon = make_client()
    before = datetime.now(UTC)
    page = await anon.get(f"/live/{sid}")
    assert page.status_code == 200

    now = re.search(r'data-server-now="([^"]+)"', page.text)
    assert now is not None
    server_now = datetime.fromisoformat(now.group(1))
    assert server_now.tzinfo is not None and before - timedelta(seconds=1) <= server_now <= datetime.now(UTC)

    flash = card_of(page, live_org.inspected_sku)
    assert f'data-item-session="{sid}"' in flash and 'data-price-fen="7900"' in flash
    assert 'data-available="5"' in flash and 'data-limit="2"' in flash
    assert f'data-flash-starts-at="{later.isoformat()}"' in flash
    assert re.search(r'data-testid="buy-button"\s+disabled', flash)  # not started yet
    assert zh("Grab it") in flash and zh("Flash sale") in flash
    assert html.escape(zh("%(n)s left", n=5)) in flash

    gone = card_of(page, live_org.uninspected_sku)
    assert "is-sold-out" in gone and 'data-available="0"' in gone
    assert re.search(r'data-testid="buy-button"\s+disabled', gone) and zh("Sold out") in gone

    # The sheet, for an anonymous viewer (it starts with signing in); the strings it shows.
    assert count_testid(page, "buy-sheet") == 1 and 'aria-modal="true"' in page.text
    assert 'data-signed-in=""' in page.text
    assert html.escape(zh("Starts in %(time)s", time="{time}")) in page.text
    assert count_testid(page, "purchase-toasts") == 1
    assert "/static/regions.js" in page.text  # the address form's province → city → county
    assert "<script>" not in page.text

    signed_in = await live_org["outsider"].get(f"/live/{sid}")
    assert 'data-signed-in="y"' in signed_in.text


async def test_before_and_after_the_show_the_cards_lead_to_the_product_page(live_org: LiveOrg) -> None:
    session = await schedule_session(live_org)
    sid, product_id = session["id"], session["shelf"][0]["product_id"]
    host = live_org["host"]
    for step in ("scheduled", "start", "end"):
        if step != "scheduled":
            assert (await host.post(f"/api/v1/sessions/{sid}/{step}")).status_code == 200
            if step == "start":
                continue
        page = await host.get(f"/live/{sid}")
        assert count_testid(page, "buy-in-shop") == 1 and f'href="/p/{product_id}" role="button"' in page.text
        assert count_testid(page, "buy-button") == 0
        assert count_testid(page, "buy-sheet") == 0 and count_testid(page, "purchase-toasts") == 0
