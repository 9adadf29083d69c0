"""Region codes: the shipped data file is whole and consistent, lookups follow the real hierarchy,
and the API serves it cacheably with problem+json for unknown or malformed codes."""

from __future__ import annotations

import re

import httpx
import pytest

from fieldcast.catalog import regions as r

# (county code, name, city code or None when directly under the province, province code, full name)
KNOWN_PLACES = [
    ("370281", "胶州市", "370200", "370000", "山东省青岛市胶州市"),
    ("220622", "靖宇县", "220600", "220000", "吉林省白山市靖宇县"),
    ("632324", "河南蒙古族自治县", "632300", "630000", "青海省黄南藏族自治州河南蒙古族自治县"),
    ("360981", "丰城市", "360900", "360000", "江西省宜春市丰城市"),
    ("411324", "镇平县", "411300", "410000", "河南省南阳市镇平县"),
    ("420527", "秭归县", "420500", "420000", "湖北省宜昌市秭归县"),
    ("429005", "潜江市", None, "420000", "湖北省潜江市"),
    ("440403", "斗门区", "440400", "440000", "广东省珠海市斗门区"),
    ("140431", "沁源县", "140400", "140000", "山西省长治市沁源县"),
    ("440113", "番禺区", "440100", "440000", "广东省广州市番禺区"),
    ("141124", "临县", "141100", "140000", "山西省吕梁市临县"),
    ("140822", "万荣县", "140800", "140000", "山西省运城市万荣县"),
]
CITY_NAMES = {
    "370200": "青岛市",
    "220600": "白山市",
    "632300": "黄南藏族自治州",
    "360900": "宜春市",
    "411300": "南阳市",
    "420500": "宜昌市",
    "440400": "珠海市",
    "140400": "长治市",
    "440100": "广州市",
    "141100": "吕梁市",
    "140800": "运城市",
}


def all_regions() -> list[r.Region]:
    return list(r.table().by_code.values())


# == The data file ================================================================================


@pytest.mark.parametrize(("code", "name", "city", "province", "full"), KNOWN_PLACES)
def test_known_places_have_their_real_parents_and_full_names(
    code: str, name: str, city: str | None, province: str, full: str
) -> None:
    chain = r.path(code)
    assert [p.code for p in chain] == [c for c in (province, city, code) if c]
    assert [p.level for p in chain] == (["province", "city", "county"] if city else ["province", "county"])
    assert chain[-1].name == name
    if city:
        assert chain[1].name == CITY_NAMES[city]
    assert r.full_name(code) == full


def test_codes_are_unique_six_digits_and_sorted_under_their_parents() -> None:
    regions = all_regions()
    assert len({x.code for x in regions}) == len(regions)
    assert all(re.fullmatch(r"\d{6}", x.code) for x in regions)
    for parent in [None, *(x.code for x in regions)]:
        kids = [k.code for k in r.children(parent)]
        assert kids == sorted(kids)


def test_every_division_below_province_has_an_existing_parent_one_level_up() -> None:
    allowed: dict[str, set[str | None]] = {"province": {None}, "city": {"province"}, "county": {"province", "city"}}
    for region in all_regions():
        parent = r.get_region(region.parent_code) if region.parent_code else None
        assert (parent.level if parent else None) in allowed[region.level], region
        if parent:
            assert region.code[:2] == parent.code[:2], region


def test_counts_are_those_of_china_today() -> None:
    levels = [x.level for x in all_regions()]
    assert levels.count("province") == 34  # incl. 香港, 澳门, 台湾
    assert 330 <= levels.count("city") <= 340
    assert 2800 <= levels.count("county") <= 2900
    assert {"香港特别行政区", "澳门特别行政区", "台湾省"} <= {p.name for p in r.children(None)}


def test_the_file_names_its_source_and_snapshot() -> None:
    table = r.table()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.snapshot)
    assert re.fullmatch(r"[0-9a-f]{64}", table.digest)


# == Lookups ======================================================================================


def test_municipality_districts_hang_directly_under_the_municipality() -> None:
    assert [p.name for p in r.path("110105")] == ["北京市", "朝阳区"]
    assert r.full_name("110105") == "北京市朝阳区"
    assert all(c.level == "county" for c in r.children("500000"))


def test_children_of_none_are_the_provinces() -> None:
    provinces = r.children(None)
    assert all(p.level == "province" and p.parent_code is None for p in provinces)
    assert provinces[0].name == "北京市"


def test_children_of_a_county_or_unknown_code_are_empty() -> None:
    assert r.children("370281") == []
    assert r.children("999999") == []


def test_unknown_codes_are_invalid_and_have_no_path() -> None:
    assert not r.is_valid_region("999999")
    assert not r.is_valid_region("37028")
    assert r.get_region("999999") is None
    assert r.path("999999") == []
    assert r.full_name("999999") == ""
    assert r.descendant_codes("999999") == frozenset()
    assert r.is_valid_region("370281")


def test_full_name_skips_pseudo_levels_of_other_editions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Editions with a 省直辖县级行政区划 placeholder city must still name 潜江市 as people write it.
    hubei = r.Region("420000", "湖北省", "province", None)
    pseudo = r.Region("429000", "省直辖县级行政区划", "city", "420000")
    qianjiang = r.Region("429005", "潜江市", "county", "429000")
    table = r.RegionTable(
        by_code={x.code: x for x in (hubei, pseudo, qianjiang)},
        children={None: (hubei,), "420000": (pseudo,), "429000": (qianjiang,)},
        snapshot="test",
        digest="0" * 64,
    )
    monkeypatch.setattr(r, "table", lambda: table)
    assert [x.code for x in r.path("429005")] == ["420000", "429000", "429005"]
    assert r.full_name("429005") == "湖北省潜江市"
    assert [x.code for x in r.search_regions("省直辖")] == []


def test_descendant_codes_of_a_province_include_its_cities_and_counties() -> None:
    shandong = r.descendant_codes("370000")
    assert {"370000", "370200", "370281"} <= shandong
    assert "440113" not in shandong
    assert r.descendant_codes("370281") == frozenset({"370281"})
    assert "429005" in r.descendant_codes("420000")
    assert r.descendant_codes("370200") == {"370200"} | {c.code for c in r.children("370200")}


def test_search_ranks_exact_names_first_and_respects_the_limit() -> None:
    assert [x.code for x in r.search_regions("胶州")] == ["370281"]
    hits = r.search_regions("南")
    assert len(hits) == 20
    assert all("南" in x.name for x in hits)
    assert r.search_regions("河南")[0].code == "410000"  # 河南省 (a prefix, higher level) before 河南蒙古族自治县
    assert r.search_regions("临县")[0].code == "141124"  # the exact name before 临县-containing names
    assert len(r.search_regions("市", limit=3)) == 3
    assert r.search_regions("  ") == []
    assert r.search_regions("不存在的地方") == []


# == API ==========================================================================================


async def test_api_lists_provinces_without_parent(client: httpx.AsyncClient) -> None:
    res = await client.get("/api/v1/regions")
    assert res.status_code == 200
    items = res.json()["items"]
    assert len(items) == 34
    assert items[0] == {
        "code": "110000",
        "name": "北京市",
        "level": "province",
        "parent_code": None,
        "full_name": "北京市",
    }


async def test_api_lists_children_with_full_names(client: httpx.AsyncClient) -> None:
    res = await client.get("/api/v1/regions", params={"parent": "370200"})
    assert res.status_code == 200
    items = {i["code"]: i for i in res.json()["items"]}
    assert items["370281"]["full_name"] == "山东省青岛市胶州市"
    assert items["370281"]["parent_code"] == "370200"


async def test_api_region_has_its_path(client: httpx.AsyncClient) -> None:
    res = await client.get("/api/v1/regions/632324")
    assert res.status_code == 200
    body = res.json()
    assert body["name"] == "河南蒙古族自治县"
    assert body["full_name"] == "青海省黄南藏族自治州河南蒙古族自治县"
    assert [p["code"] for p in body["path"]] == ["630000", "632300", "632324"]


async def test_api_search(client: httpx.AsyncClient) -> None:
    res = await client.get("/api/v1/regions/search", params={"q": "番禺", "limit": 5})
    assert res.status_code == 200
    assert [i["full_name"] for i in res.json()["items"]] == ["广东省广州市番禺区"]


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "一" * 21}, {"q": "南", "limit": 0}, {"q": "南", "limit": 51}, {}])
async def test_api_search_rejects_bad_queries(client: httpx.AsyncClient, params: dict[str, str | int]) -> None:
    res = await client.get("/api/v1/regions/search", params=params)
    assert res.status_code == 422
    assert res.headers["content-type"] == "application/problem+json"


async def test_api_unknown_code_is_a_translated_404(client: httpx.AsyncClient) -> None:
    res = await client.get("/api/v1/regions/999999", headers={"Accept-Language": "zh-CN"})
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/problem+json"
    body = res.json()
    assert body["code"] == "not_found"
    assert "999999" in body["detail"]
    assert "行政区划" in body["detail"]
    assert "etag" not in res.headers

    res = await client.get("/api/v1/regions", params={"parent": "999999"}, headers={"Accept-Language": "en"})
    assert res.status_code == 404
    assert res.json()["detail"] == "There is no region with code 999999."
    assert res.json()["errors"][0]["field"] == "parent"


@pytest.mark.parametrize("bad", ["37028", "3702811", "abcdef", "37028x"])
async def test_api_malformed_code_is_422(client: httpx.AsyncClient, bad: str) -> None:
    res = await client.get(f"/api/v1/regions/{bad}")
    assert res.status_code == 422
    assert res.headers["content-type"] == "application/problem+json"
    res = await client.get("/api/v1/regions", params={"parent": bad})
    assert res.status_code == 422


@pytest.mark.parametrize(
    "url",
    ["/api/v1/regions", "/api/v1/regions?parent=420000", "/api/v1/regions/429005", "/api/v1/regions/search?q=丰城"],
)
async def test_api_answers_if_none_match_with_304(client: httpx.AsyncClient, url: str) -> None:
    first = await client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=86400"

    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=86400"

    stale = await client.get(url, headers={"If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


async def test_api_etags_differ_between_resources(client: httpx.AsyncClient) -> None:
    urls = ["/api/v1/regions", "/api/v1/regions?parent=420000", "/api/v1/regions/420000", "/api/v1/regions/429005"]
    tags = {(await client.get(u)).headers["etag"] for u in urls}
    assert len(tags) == len(urls)
