"""The site header: product search linked from it, the language switch coming back to the same
page with its query, and the icon browsers ask for."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

EN = {"accept-language": "en-US,en;q=0.9"}


def lang_link(page: httpx.Response, testid: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', page.text)
    assert match, page.text[:2000]
    return html.unescape(match.group(1))


async def test_the_language_switch_keeps_the_path_and_the_query(client: httpx.AsyncClient) -> None:
    page = await client.get("/products", params={"q": "蓝莓 5斤", "province": "220000", "category": "fresh_produce"})
    link = lang_link(page, "lang-en")
    assert urlsplit(link).path == "/lang/en"
    target = parse_qs(urlsplit(link).query)["next"][0]
    assert urlsplit(target).path == "/products"
    query = parse_qs(urlsplit(target).query)
    assert query == {"q": ["蓝莓 5斤"], "province": ["220000"], "category": ["fresh_produce"]}

    switched = await client.get(link)
    assert switched.status_code == 303
    assert switched.headers["location"] == target
    back = await client.get(switched.headers["location"])
    assert back.text.count('value="蓝莓 5斤"') == 1  # the search box still holds the query, now in English
    assert '<html lang="en">' in back.text
    assert parse_qs(urlsplit(lang_link(back, "lang-zh")).query)["next"] == [target]


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/ /evil.example", "/\x7f"])
async def test_a_next_with_control_characters_is_not_followed(client: httpx.AsyncClient, target: str) -> None:
    # Browsers drop tabs and newlines from URLs: "/\t/evil.example" would become "//evil.example".
    r = await client.get("/lang/en", params={"next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_the_header_links_product_search_in_both_languages(client: httpx.AsyncClient) -> None:
    for headers, word in (({}, "商品"), (EN, "Products")):
        page = await client.get("/", headers=headers)
        assert re.search(rf'<a href="/products" data-testid="nav-products">{word}</a>', page.text)
        assert 'data-testid="nav-menu"' in page.text  # the secondary links sit in the menu


async def test_favicon_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = await client.get("/")
    assert '<link rel="icon" href="/favicon.ico"' in page.text
    assert (await client.get("/static/favicon.svg")).status_code == 200
