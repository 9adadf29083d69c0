"""The site header: product search linked from it, the language switch coming back to the same
page with its query, and the icons browsers and home screens ask for."""

from __future__ import annotations

import html
import importlib.util
import io
import re
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "src" / "fieldcast" / "web" / "static"

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


def _icon_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_icons", REPO / "scripts" / "build_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_app_icons_and_the_manifest_are_linked_and_served(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assert '<link rel="apple-touch-icon" href="/static/apple-touch-icon.png">' in page
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page

    manifest = await client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"] == "application/manifest+json"
    body = manifest.json()
    assert (body["name"], body["description"], body["lang"]) == ("Fieldcast", "公益直播带货", "zh-CN")
    english = (await client.get("/manifest.webmanifest", headers=EN)).json()
    assert (english["description"], english["lang"]) == ("Live selling for public welfare", "en")

    icons = [(icon["src"], icon["sizes"]) for icon in body["icons"]]
    icons += [("/static/apple-touch-icon.png", "180x180"), ("/apple-touch-icon.png", "180x180")]
    for src, sizes in icons:
        r = await client.get(src)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", src
        with Image.open(io.BytesIO(r.content)) as image:
            assert f"{image.width}x{image.height}" == sizes and image.format == "PNG", src
    assert {sizes for _, sizes in icons} == {"192x192", "512x512", "180x180"}


def test_the_committed_icons_are_the_brand_mark_as_the_script_draws_it() -> None:
    script = _icon_script()
    for name, (side, rounded) in script.ICONS.items():
        with Image.open(STATIC / name) as committed:
            drawn = script.draw_icon(side, rounded=rounded)
            assert committed.size == (side, side)
            assert ImageChops.difference(committed.convert("RGBA"), drawn).getbbox() is None, name
    # The mark's own colours: the red square and the white triangle at its centre.
    with Image.open(STATIC / "icon-512.png") as icon:
        rgba = icon.convert("RGBA")
        assert rgba.getpixel((40, 256)) == script.RED
        assert rgba.getpixel((280, 256)) == script.WHITE
        assert rgba.getpixel((0, 0))[3] == 0  # rounded corners on transparency
    with Image.open(STATIC / "apple-touch-icon.png") as icon:
        assert icon.convert("RGBA").getpixel((0, 0)) == script.RED  # iOS rounds the corners itself
