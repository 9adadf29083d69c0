"""A buyer's addresses: add, edit, delete, one default at all times, the limit, the region and
phone rules with the field at fault (API and page), masking, and nobody else's addresses."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

from fieldcast.commerce import addresses
from fieldcast.commerce.errors import BadPhone
from fieldcast.commerce.models import ADDRESSES_MAX
from tests.commerce.buyers import MASKED, PHONE, Buyer, add_address, address_body, make_buyer
from tests.factories import JIAOZHOU, JILIN, MakeClient, sign_up
from tests.live.conftest import post_form


async def listed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/me/addresses")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()
    return items


def default_ids(items: list[dict[str, Any]]) -> list[int]:
    return [a["id"] for a in items if a["is_default"]]


# -- phones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13812341234", "13812341234"),
        ("+86 138 1234 1234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("0439-1234567", "0439-1234567"),
        ("0439 1234567", "0439-1234567"),
        ("04391234567", "0439-1234567"),
        ("010-12345678", "010-12345678"),
        ("(021)87654321", "021-87654321"),
    ],
)
def test_phones_are_accepted_in_one_spelling(typed: str, stored: str) -> None:
    assert addresses.normalise_phone(typed) == stored


@pytest.mark.parametrize(
    "typed", ["12812341234", "1381234123", "138123412345", "0439-123456", "439-1234567", "010-0123456", "abc", ""]
)
def test_other_phones_are_refused(typed: str) -> None:
    with pytest.raises(BadPhone) as raised:
        addresses.normalise_phone(typed)
    assert raised.value.field == "phone"


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812341234", "138****1234"),
        ("0439-1234567", "0439-***4567"),
        ("010-12345678", "010-****5678"),
        ("12345", "****2345"),
    ],
)
def test_phones_are_masked_keeping_the_prefix_and_last_four(phone: str, masked: str) -> None:
    assert addresses.mask_phone(phone) == masked


# -- the API --------------------------------------------------------------------------------------


async def test_first_address_is_the_default_and_setting_another_moves_it(make_client: MakeClient) -> None:
    buyer = await make_buyer(make_client)
    first = buyer.address_id
    second = await add_address(buyer.client, recipient="李四", phone="0439-1234567")
    assert second["is_default"] is False and second["phone"] == "0439-1234567"
    assert second["region_name"] == "吉林省白山市靖宇县"
    assert default_ids(await listed(buyer.client)) == [first]

    r = await buyer.client.post(f"/api/v1/me/addresses/{second['id']}/default")
    assert r.status_code == 200 and r.json()["is_default"] is True
    items = await listed(buyer.client)
    assert default_ids(items) == [second["id"]] and items[0]["id"] == second["id"]  # the default first

    third = await add_address(buyer.client, is_default=True, street="新街2号")
    assert default_ids(await listed(buyer.client)) == [third["id"]]

    r = await buyer.client.patch(f"/api/v1/me/addresses/{first}", json={"is_default": True, "street": "老街3号"})
    assert r.status_code == 200 and r.json()["street"] == "老街3号"
    assert default_ids(await listed(buyer.client)) == [first]


async def test_the_default_cannot_be_switched_off_only_moved(buyer: Buyer) -> None:
    r = await buyer.client.patch(f"/api/v1/me/addresses/{buyer.address_id}", json={"is_default": False})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "is_default"
    assert default_ids(await listed(buyer.client)) == [buyer.address_id]


async def test_deleting_the_default_makes_the_newest_remaining_one_default(buyer: Buyer) -> None:
    older = await add_address(buyer.client, street="一号")
    newer = await add_address(buyer.client, street="二号")
    r = await buyer.client.delete(f"/api/v1/me/addresses/{buyer.address_id}")
    assert r.status_code == 204
    items = await listed(buyer.client)
    assert {a["id"] for a in items} == {older["id"], newer["id"]}
    assert default_ids(items) == [newer["id"]]
    # Deleting one that is not the default leaves the default where it is.
    assert (await buyer.client.delete(f"/api/v1/me/addresses/{older['id']}")).status_code == 204
    assert default_ids(await listed(buyer.client)) == [newer["id"]]
    assert (await buyer.client.delete(f"/api/v1/me/addresses/{newer['id']}")).status_code == 204
    assert await listed(buyer.client) == []
    again = await add_address(buyer.client)
    assert again["is_default"] is True


async def test_at_most_the_limit_of_addresses(buyer: Buyer) -> None:
    for n in range(ADDRESSES_MAX - 1):
        await add_address(buyer.client, street=f"{n}号")
    r = await buyer.client.post("/api/v1/me/addresses", json=address_body(street="多一个"))
    assert r.status_code == 409 and r.json()["code"] == "too_many_addresses"
    assert len(await listed(buyer.client)) == ADDRESSES_MAX


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"region_code": JILIN}, "region_code", "bad_address"),  # a province, not a county
        ({"region_code": "220600"}, "region_code", "bad_address"),  # a city
        ({"region_code": "999999"}, "region_code", "bad_address"),  # no such division
        ({"region_code": "2206"}, "region_code", "string_pattern_mismatch"),
        ({"phone": "12345678901"}, "phone", "bad_phone"),
        ({"phone": "1" * 21}, "phone", "string_too_long"),
        ({"recipient": ""}, "recipient", "string_too_short"),
        ({"street": "路" * 201}, "street", "string_too_long"),
    ],
)
async def test_bad_addresses_are_refused_naming_the_field(
    buyer: Buyer, overrides: dict[str, Any], field: str, code: str
) -> None:
    r = await buyer.client.post("/api/v1/me/addresses", json=address_body(**overrides))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [(x["field"], x["code"]) for x in r.json()["errors"]] == [(field, code)]
    r = await buyer.client.patch(f"/api/v1/me/addresses/{buyer.address_id}", json=overrides)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field


async def test_a_county_level_code_of_another_province_is_fine(buyer: Buyer) -> None:
    r = await buyer.client.patch(f"/api/v1/me/addresses/{buyer.address_id}", json={"region_code": JIAOZHOU})
    assert r.status_code == 200 and r.json()["region_name"] == "山东省青岛市胶州市"


async def test_nobody_else_sees_or_changes_an_address(buyer: Buyer, make_client: MakeClient) -> None:
    other = await make_buyer(make_client, "other")
    mine = buyer.address_id
    assert [a["id"] for a in await listed(other.client)] == [other.address_id]
    assert (await other.client.patch(f"/api/v1/me/addresses/{mine}", json={"street": "偷改"})).status_code == 404
    assert (await other.client.post(f"/api/v1/me/addresses/{mine}/default")).status_code == 404
    assert (await other.client.delete(f"/api/v1/me/addresses/{mine}")).status_code == 404
    assert (await other.client.get(f"/account/addresses/{mine}")).status_code == 404
    assert (await post_form(other.client, f"/account/addresses/{mine}/delete")).status_code == 404
    assert (await listed(buyer.client))[0]["street"] == "靖宇镇江边路1号"
    anonymous = make_client()
    assert (await anonymous.get("/api/v1/me/addresses")).status_code == 401
    page = await anonymous.get("/account/addresses")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/account/addresses"


async def test_a_retried_create_with_the_same_key_adds_one_address(make_client: MakeClient) -> None:
    client = make_client()
    await sign_up(client, "retry@example.com")
    headers = {"Idempotency-Key": "add-address-1"}
    first = await client.post("/api/v1/me/addresses", json=address_body(), headers=headers)
    again = await client.post("/api/v1/me/addresses", json=address_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert len(await listed(client)) == 1


# -- the page -------------------------------------------------------------------------------------


async def test_the_page_adds_edits_and_deletes_addresses(buyer: Buyer) -> None:
    page = await buyer.client.get("/account/addresses")
    assert page.status_code == 200
    assert PHONE in page.text  # the owner sees their number
    assert 'name="region_code"' in page.text and "/static/regions.js" in page.text
    assert 'for="f-phone"' in page.text and 'for="f-recipient"' in page.text  # labelled fields
    assert "<script>" not in page.text

    r = await post_form(
        buyer.client,
        "/account/addresses",
        {**address_body(recipient="赵六", phone="0439-7654321", street="页面路5号"), "next": "/cart"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/cart"
    added = next(a for a in await listed(buyer.client) if a["recipient"] == "赵六")
    assert added["is_default"] is False

    edit = await buyer.client.get(f"/account/addresses/{added['id']}")
    assert edit.status_code == 200 and "页面路5号" in edit.text
    r = await post_form(
        buyer.client,
        f"/account/addresses/{added['id']}",
        {**address_body(recipient="赵六", street="页面路6号"), "is_default": "true"},
    )
    assert r.status_code == 303
    items = await listed(buyer.client)
    assert items[0]["id"] == added["id"] and items[0]["street"] == "页面路6号" and items[0]["is_default"]

    assert (await post_form(buyer.client, f"/account/addresses/{buyer.address_id}/default")).status_code == 303
    assert default_ids(await listed(buyer.client)) == [buyer.address_id]
    assert (await post_form(buyer.client, f"/account/addresses/{added['id']}/delete")).status_code == 303
    assert [a["id"] for a in await listed(buyer.client)] == [buyer.address_id]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"phone": "5551234"}, "phone"), ({"region_code": JILIN}, "region_code"), ({"street": ""}, "street")],
)
async def test_the_page_shows_the_form_again_with_the_message_on_the_field(
    buyer: Buyer, overrides: dict[str, Any], field: str
) -> None:
    body = address_body(recipient="钱七", **overrides)
    r = await post_form(buyer.client, "/account/addresses", body)
    assert r.status_code == 422
    assert f'data-testid="error-{field}"' in r.text
    assert 'value="钱七"' in r.text  # what was typed stays
    assert len(await listed(buyer.client)) == 1
    edit = await post_form(buyer.client, f"/account/addresses/{buyer.address_id}", body)
    assert edit.status_code == 422 and f'data-testid="error-{field}"' in edit.text


async def test_the_phone_message_is_chinese_on_the_page(buyer: Buyer) -> None:
    r = await post_form(buyer.client, "/account/addresses", address_body(phone="5551234"))
    message = html.unescape(r.text.split('data-testid="error-phone">')[1].split("<")[0])
    assert "手机号" in message


def test_masked_constant_matches_the_rule() -> None:
    assert addresses.mask_phone(PHONE) == MASKED
