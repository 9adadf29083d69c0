"""Set-up over the JSON API for the browser tests of live rooms: accounts, a cooperative with a
verified host (a village first secretary), one published product and a show scheduled for later
today with that product on the shelf. The browser then does what a person would."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.conftest import ADMIN, Credentials
from tests.factories import (
    JINGYU,
    PASSWORD,
    next_id_serial,
    org_verification_body,
    product_body,
    supplier_body,
    verification_body,
)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


PAID_WITHIN_S = 30.0


def pay_for(client: httpx.Client, items: list[dict[str, Any]], address_id: int, *, key: str | None = None) -> int:
    """The signed-in buyer on `client` checks `items` out to `address_id` (with an Idempotency-Key),
    opens the payment and confirms it on the in-process provider's page; the first order's id once
    the provider's notification has marked it paid."""
    payment = ok(
        client.post(
            "/api/v1/checkout",
            json={"items": items, "address_id": address_id},
            headers={"Idempotency-Key": key or f"pay-{secrets.token_hex(8)}"},
        ),
        201,
    )
    order_id = int(payment["orders"][0]["id"])
    pay_path = httpx.URL(ok(client.post(f"/api/v1/payments/{payment['id']}/open"))["pay_url"]).path
    confirm = client.post(f"{pay_path}/confirm", data={"csrf_token": client.headers["X-CSRF-Token"]})
    assert confirm.status_code == 303, confirm.text
    deadline = time.monotonic() + PAID_WITHIN_S
    while ok(client.get(f"/api/v1/orders/{order_id}"))["state"] != "paid":
        assert time.monotonic() < deadline, "the order was never paid"
        time.sleep(0.2)
    return order_id


def api(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=15.0)


def with_csrf(client: httpx.Client) -> None:
    client.headers["X-CSRF-Token"] = ok(client.get("/api/v1/auth/csrf"))["csrf_token"]


def sign_up(client: httpx.Client, who: Credentials) -> int:
    """Sign `who` up on this client (which stays signed in, with its CSRF header); the user id."""
    body = {"email": who.email, "display_name": who.display_name, "password": who.password}
    user = ok(client.post("/api/v1/auth/signup", json=body), 201)
    with_csrf(client)
    return int(user["id"])


def join_by_invitation(owner_api: httpx.Client, member_api: httpx.Client, slug: str, email: str, role: str) -> None:
    """The owner invites `email` to the organisation as `role`; the member (signed in) accepts."""
    invitation = {"email": email, "role": role}
    token = ok(owner_api.post(f"/api/v1/organisations/{slug}/invitations", json=invitation), 201)["token"]
    ok(member_api.post("/api/v1/invitations/accept", json={"token": token}))


def person(prefix: str, role: str, suffix: str, display_name: str) -> Credentials:
    return Credentials(f"{prefix}{role}-{suffix}@e2e.example.com", PASSWORD, f"{display_name}{suffix}")


def sign_in_admin(client: httpx.Client) -> None:
    """Sign the platform administrator the server was seeded with in on `client`."""
    ok(client.post("/api/v1/auth/signin", json={"email": ADMIN.email, "password": ADMIN.password}))
    with_csrf(client)


def apply_for_org_verification(owner_api: httpx.Client, slug: str, jurisdiction: str = JINGYU) -> int:
    """The owner asks for the organisation's kind to be verified; the pending request's id."""
    body = org_verification_body(jurisdiction)
    return int(ok(owner_api.post(f"/api/v1/organisations/{slug}/verifications", json=body), 201)["id"])


def inspection_authority(
    base_url: str, inspector_api: httpx.Client, inspector_email: str, suffix: str, *, verify: bool = True
) -> tuple[str, str]:
    """A county market-supervision office whose director invites the signed-in inspector; verified
    for Jingyu county by the administrator unless `verify` is False. Its slug and name."""
    director = person("amr", "director", suffix, "局长")
    slug, name = f"jingyu-amr-{suffix}", f"靖宇县市场监督管理局{suffix}"
    with api(base_url) as director_api:
        sign_up(director_api, director)
        body = {"slug": slug, "name": name, "kind": "inspection_authority", "region": "吉林省白山市靖宇县"}
        ok(director_api.post("/api/v1/organisations", json=body), 201)
        join_by_invitation(director_api, inspector_api, slug, inspector_email, "inspector")
        request_id = apply_for_org_verification(director_api, slug)
    if verify:
        with api(base_url) as admin_api:
            sign_in_admin(admin_api)
            ok(admin_api.post(f"/api/v1/org-verifications/{request_id}/approve", json={"reason": "名录可查"}))
    return slug, name


@dataclass(frozen=True)
class Offer:
    """What the show sells: the cooperative's and supplier's names, the product and its one SKU,
    and the show's title and live price."""

    org_name: str
    supplier_name: str
    title: str
    description: str
    sku: dict[str, Any]
    show_title: str
    live_price_fen: int


@dataclass(frozen=True)
class ScheduledShow:
    session_id: int
    host: Credentials
    product_title: str
    sku_id: int
    owner: Credentials
    org_slug: str
    product_id: int


def schedule_show(base_url: str, prefix: str, suffix: str, offer: Offer) -> ScheduledShow:
    """Make everything a scheduled show needs over the API; `prefix` and `suffix` keep its
    accounts and organisation apart from other tests' on the shared server."""
    owner, host = person(prefix, "owner", suffix, "理事长"), person(prefix, "host", suffix, "第一书记")
    slug = f"{prefix or 'live-'}{suffix}"
    with api(base_url) as owner_api, api(base_url) as host_api, api(base_url) as admin_api:
        sign_up(owner_api, owner)
        host_id = sign_up(host_api, host)
        ok(admin_api.post("/api/v1/auth/signin", json={"email": ADMIN.email, "password": ADMIN.password}))
        with_csrf(admin_api)
        org = {"slug": slug, "name": offer.org_name, "kind": "cooperative", "region": "吉林省白山市靖宇县"}
        org_id = ok(owner_api.post("/api/v1/organisations", json=org), 201)["id"]
        join_by_invitation(owner_api, host_api, slug, host.email, "host")
        serial = next_id_serial()
        applied = ok(host_api.post("/api/v1/me/verifications", json=verification_body(serial)), 201)
        ok(admin_api.post(f"/api/v1/verifications/{applied['id']}/approve", json={"reason": "核验任命文件"}))
        supplier = supplier_body(name=offer.supplier_name, contact_name="李", contact_phone="0439-0000000")
        supplier_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier), 201)["id"]
        product = product_body(supplier_id, title=offer.title, description=offer.description, skus=[offer.sku])
        made = ok(owner_api.post(f"/api/v1/organisations/{slug}/products", json=product), 201)
        ok(owner_api.post(f"/api/v1/products/{made['id']}/publish", json={}))
        sku_id = int(made["skus"][0]["id"])
        session = {
            "organisation_id": org_id,
            "title": offer.show_title,
            "scheduled_at": (datetime.now(UTC) + timedelta(minutes=20)).isoformat(),
            "host_ids": [host_id],
            "shelf": [{"sku_id": sku_id, "live_price_fen": offer.live_price_fen, "session_stock": 50}],
        }
        session_id = ok(owner_api.post("/api/v1/sessions", json=session), 201)["id"]
    return ScheduledShow(session_id, host, offer.title, sku_id, owner, slug, int(made["id"]))
