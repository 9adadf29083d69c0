"""The product search page's region filter: province, city and county, as a plain GET form."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.factories import create_product

JILIN, BAISHAN, JINGYU, FUSONG = "220000", "220600", "220622", "220621"
QINGDAO_JIAOZHOU = "370281"


def options(page: httpx.Response, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page.text, re.S)
    assert block, select_id
    return re.findall(r'<option value="(\d+)"', block.group(1))


def selected(page: httpx.Response, select_id: str) -> str | None:
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page.text, re.S)
    assert block
    found = re.search(r'<option value="(\d+)" selected', block.group(1))
    return found.group(1) if found else None


async def test_search_filters_by_province_city_and_county(
    make_org: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("regions")
    await create_product(org, "owner", title="靖宇蓝莓", origin_region=JINGYU, publish=True)
    await create_product(org, "owner", title="抚松人参", origin_region=FUSONG, publish=True)
    await create_product(org, "owner", title="胶州白菜", origin_region=QINGDAO_JIAOZHOU, publish=True)
    anonymous = make_client()

    async def titles(**params: str) -> set[str]:
        page = await anonymous.get("/products", params=params)
        assert page.status_code == 200
        return {t for t in ("靖宇蓝莓", "抚松人参", "胶州白菜") if t in page.text}

    assert await titles() == {"靖宇蓝莓", "抚松人参", "胶州白菜"}
    assert await titles(province=JILIN) == {"靖宇蓝莓", "抚松人参"}
    assert await titles(province=JILIN, city=BAISHAN) == {"靖宇蓝莓", "抚松人参"}
    assert await titles(province=JILIN, city=BAISHAN, county=JINGYU) == {"靖宇蓝莓"}
    assert await titles(province=JILIN, city=BAISHAN, county=FUSONG) == {"抚松人参"}
    # A county left over from another city (a plain form keeps the old choice) is not applied.
    assert await titles(province="370000", city="370200", county=JINGYU) == {"胶州白菜"}


async def test_without_javascript_each_answer_offers_the_next_level(client: httpx.AsyncClient) -> None:
    first = await client.get("/products")
    assert JILIN in options(first, "province")
    assert options(first, "city") == [] and options(first, "county") == []

    cities = await client.get("/products", params={"province": JILIN})
    assert BAISHAN in options(cities, "city") and options(cities, "county") == []
    assert selected(cities, "province") == JILIN

    counties = await client.get("/products", params={"province": JILIN, "city": BAISHAN, "county": JINGYU})
    assert {JINGYU, FUSONG} <= set(options(counties, "county"))
    assert (selected(counties, "province"), selected(counties, "city"), selected(counties, "county")) == (
        JILIN,
        BAISHAN,
        JINGYU,
    )
    # The pager and the language switch carry the whole filter.
    assert "county%3D220622" in counties.text


async def test_bad_region_codes_are_refused_not_crashed(client: httpx.AsyncClient) -> None:
    r = await client.get("/products", params={"county": "12ab"})
    assert r.status_code == 422
    r = await client.get("/products", params={"province": "999999", "city": BAISHAN})
    assert r.status_code == 200  # an unknown code filters nothing
