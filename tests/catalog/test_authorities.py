"""Trust model for authorities (#14.1): government and inspection-authority kinds are claims a
platform admin verifies; only a verified authority's inspector, within its jurisdiction and never
the seller's own, records an inspection that counts for the badge and the public-welfare gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts import actions
from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.catalog.models import Inspection, InspectionResult
from fieldcast.db.audit import AuditEntry
from tests.factories import (
    JIAOZHOU,
    JILIN,
    JINGYU,
    create_organisation,
    create_product,
    create_supplier,
    inspection_body,
    make_authority,
    org_verification_body,
    product_body,
    sign_up,
    verify_organisation,
)

MakeClient = Callable[[], httpx.AsyncClient]
COUNTY_GOVERNMENT = "靖宇县人民政府"


async def _gate(client: httpx.AsyncClient, sku_id: int) -> dict[str, Any]:
    r = await client.post("/api/v1/catalog/public-welfare-gate", json={"sku_ids": [sku_id]})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()[0]
    return result


async def test_the_finding_a_self_declared_government_cannot_badge_its_own_goods(
    make_client: MakeClient,
) -> None:
    """The reported attack, step by step: a brand-new account registers a "government" with a
    county government's name, invites itself as inspector, accepts, and records a passing
    inspection on its own product. No badge may follow, and the gate must say not eligible."""
    me = make_client()
    await sign_up(me, "mallory@example.com", "县政府")
    slug = "jingyu-gov"
    org = await create_organisation(me, {"slug": slug, "name": COUNTY_GOVERNMENT, "kind": "government"})
    invited = await me.post(
        f"/api/v1/organisations/{slug}/invitations", json={"email": "mallory@example.com", "role": "inspector"}
    )
    assert invited.status_code == 201, invited.text
    accepted = await me.post("/api/v1/invitations/accept", json={"token": invited.json()["token"]})
    assert accepted.status_code == 200 and "inspector" in accepted.json()["roles"], accepted.text
    supplier_id = await create_supplier(me, slug)
    made = await me.post(f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id))
    assert made.status_code == 201, made.text
    product_id, sku_id = made.json()["id"], made.json()["skus"][0]["id"]

    inspected = await me.post(f"/api/v1/products/{product_id}/inspections", json=inspection_body())
    assert inspected.status_code == 403, inspected.text
    assert inspected.json()["code"] == "own_goods" and inspected.json()["errors"][0]["field"] == "authority"
    assert (await me.post(f"/api/v1/products/{product_id}/publish", json={})).status_code == 200

    anonymous = make_client()
    shown = (await anonymous.get(f"/api/v1/products/{product_id}")).json()
    assert shown["inspection"]["status"] == "none"
    assert shown["organisation_claim"] is True and shown["organisation_verified"] is False
    assert await _gate(anonymous, sku_id) == {"sku_id": sku_id, "eligible": False, "status": "none"}
    page = (await anonymous.get(f"/p/{product_id}")).text
    assert 'data-testid="badge-inspected"' not in page and 'data-testid="org-unverified"' in page
    assert (await anonymous.get(f"/api/v1/organisations/{slug}")).json()["is_verified"] is False
    assert org["is_verified"] is False


async def test_an_unverified_authority_of_its_own_counts_for_nothing(
    make_org: Callable[..., Any], make_authority: Callable[..., Any]
) -> None:
    """The next step of the same attack: a second, self-made "inspection authority"."""
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    fake = await make_authority("fake-amr", verified=False)
    r = await fake["inspector"].post(f"/api/v1/products/{product['id']}/inspections", json=inspection_body())
    assert r.status_code == 403 and r.json()["code"] == "authority_not_verified", r.text
    assert (await _gate(seller["owner"], product["skus"][0]["id"]))["eligible"] is False


async def test_an_authority_inspects_only_within_its_jurisdiction(
    make_org: Callable[..., Any], make_authority: Callable[..., Any]
) -> None:
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)  # from Jingyu county, Jilin
    url = f"/api/v1/products/{product['id']}/inspections"
    jiaozhou = await make_authority("jiaozhou-amr", JIAOZHOU)
    r = await jiaozhou["inspector"].post(url, json=inspection_body())
    assert r.status_code == 403 and r.json()["code"] == "outside_jurisdiction", r.text
    assert "靖宇县" in r.json()["detail"]
    # A province-level authority covers the counties under it.
    province = await make_authority("jilin-amr", JILIN)
    assert (await province["inspector"].post(url, json=inspection_body())).status_code == 201
    badge = (await seller["owner"].get(f"/api/v1/products/{product['id']}")).json()["inspection"]
    assert badge["status"] == "passed" and badge["authority_name"] == "jilin-amr 市场监督管理局"
    assert badge["certificate_no"] == "JY-2026-0042"
    assert await _gate(seller["owner"], product["skus"][0]["id"]) == {
        "sku_id": product["skus"][0]["id"],
        "eligible": True,
        "status": "passed",
    }


async def test_a_seller_never_inspects_its_own_goods_even_as_a_verified_authority(
    app: FastAPI, make_client: MakeClient, make_org: Callable[..., Any], admin: httpx.AsyncClient
) -> None:
    # A verified authority that also sells (a lab with a shop) cannot badge its own products.
    lab = await make_authority(app, make_client, "lab", admin=admin)
    supplier_id = await create_supplier(lab["owner"], "lab")
    made = await lab["owner"].post("/api/v1/organisations/lab/products", json=product_body(supplier_id))
    assert made.status_code == 201, made.text
    r = await lab["inspector"].post(f"/api/v1/products/{made.json()['id']}/inspections", json=inspection_body())
    assert r.status_code == 403 and r.json()["code"] == "own_goods", r.text
    # Nor does a member of the seller who is also an authority's inspector, whichever hat they wear.
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    async with app.state.ctx.uow() as uow:
        user = await uow.session.scalar(sa.select(User).where(User.email == "organiser@seller.example.com"))
        org = await uow.session.scalar(sa.select(Organisation).where(Organisation.slug == "lab"))
        assert user is not None and org is not None
        await actions.add_member(uow, None, org, user, Role.INSPECTOR)
    body = inspection_body(authority="lab")
    r = await seller["organiser"].post(f"/api/v1/products/{product['id']}/inspections", json=body)
    assert r.status_code == 403 and r.json()["code"] == "own_goods", r.text


async def test_platform_admins_verify_but_do_not_inspect(
    make_org: Callable[..., Any], admin: httpx.AsyncClient
) -> None:
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    r = await admin.post(f"/api/v1/products/{product['id']}/inspections", json=inspection_body())
    assert r.status_code == 403 and r.json()["code"] == "not_an_inspector", r.text


async def test_only_a_platform_admin_outside_the_organisation_decides(
    app: FastAPI, make_client: MakeClient, admin: httpx.AsyncClient
) -> None:
    authority = await make_authority(app, make_client, "jingyu-amr")
    applied = await authority["owner"].post(
        "/api/v1/organisations/jingyu-amr/verifications", json=org_verification_body()
    )
    assert applied.status_code == 201, applied.text
    request_id = applied.json()["id"]
    for who in (authority["owner"], authority["inspector"], make_client()):
        r = await who.post(f"/api/v1/org-verifications/{request_id}/approve", json={})
        assert r.status_code in (401, 403), r.text
        assert (await who.get("/api/v1/org-verifications")).status_code in (401, 403)
    assert (await authority["owner"].get("/api/v1/organisations/jingyu-amr")).json()["is_verified"] is False
    # The owner cannot apply twice while a request waits, nor a stranger at all.
    again = await authority["owner"].post(
        "/api/v1/organisations/jingyu-amr/verifications", json=org_verification_body()
    )
    assert again.status_code == 409, again.text
    stranger = await authority["inspector"].post(
        "/api/v1/organisations/jingyu-amr/verifications", json=org_verification_body()
    )
    assert stranger.status_code == 403, stranger.text
    # A rejection needs a reason.
    no_reason = await admin.post(f"/api/v1/org-verifications/{request_id}/reject", json={})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    queue = (await admin.get("/api/v1/org-verifications", params={"status": "pending"})).json()
    assert [v["id"] for v in queue["items"]] == [request_id]
    assert queue["items"][0]["jurisdiction_name"] == "吉林省白山市靖宇县"
    approved = await admin.post(f"/api/v1/org-verifications/{request_id}/approve", json={"reason": "名录可查"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    shown = (await make_client().get("/api/v1/organisations/jingyu-amr")).json()
    assert shown["is_verified"] is True and shown["jurisdiction_code"] == JINGYU
    async with app.state.ctx.uow() as uow:
        entry = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "organisation.verify"))
        assert entry is not None and entry.reason == "名录可查" and entry.target_id == str(request_id)


async def test_applying_is_for_claimed_kinds_and_known_regions(
    make_org: Callable[..., Any], app: FastAPI, make_client: MakeClient
) -> None:
    coop = await make_org("coop")
    r = await coop["owner"].post("/api/v1/organisations/coop/verifications", json=org_verification_body())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind", r.text
    authority = await make_authority(app, make_client, "somewhere-amr")
    unknown = await authority["owner"].post(
        "/api/v1/organisations/somewhere-amr/verifications", json=org_verification_body("999999")
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "jurisdiction_code"


async def test_a_verified_name_is_reserved(app: FastAPI, make_client: MakeClient, admin: httpx.AsyncClient) -> None:
    real = make_client()
    await sign_up(real, "real@jingyu.example.com", "县政府办公室")
    await create_organisation(real, {"slug": "jingyu-county", "name": COUNTY_GOVERNMENT, "kind": "government"})
    await verify_organisation(admin, real, "jingyu-county")

    impostor = make_client()
    await sign_up(impostor, "mallory@example.com", "假冒")
    for name in (COUNTY_GOVERNMENT, f" {COUNTY_GOVERNMENT} ", "靖宇县 人民政府"):
        r = await impostor.post("/api/v1/organisations", json={"slug": "fake-gov", "name": name, "kind": "government"})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "name_of_verified_organisation" and r.json()["errors"][0]["field"] == "name"
    await create_organisation(impostor, {"slug": "fake-gov", "name": "靖宇县某某合作社", "kind": "cooperative"})
    renamed = await impostor.patch("/api/v1/organisations/fake-gov", json={"name": COUNTY_GOVERNMENT})
    assert renamed.status_code == 409 and renamed.json()["errors"][0]["field"] == "name"
    # The form says so on the name field.
    csrf = impostor.headers["X-CSRF-Token"]
    page = await impostor.post(
        "/orgs/new", data={"slug": "fake-gov-2", "name": COUNTY_GOVERNMENT, "kind": "government", "csrf_token": csrf}
    )
    assert page.status_code == 422 and 'data-testid="error-name"' in page.text
    # The verified organisation itself may keep saving its name.
    same = await real.patch("/api/v1/organisations/jingyu-county", json={"name": COUNTY_GOVERNMENT})
    assert same.status_code == 200 and same.json()["is_verified"] is True


async def test_revoking_or_changing_the_claim_ends_the_badge(
    app: FastAPI,
    make_client: MakeClient,
    make_org: Callable[..., Any],
    admin: httpx.AsyncClient,
) -> None:
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    authority = await make_authority(app, make_client, "jingyu-amr", admin=admin)
    url = f"/api/v1/products/{product['id']}/inspections"
    assert (await authority["inspector"].post(url, json=inspection_body())).status_code == 201
    sku_id = product["skus"][0]["id"]
    assert (await _gate(seller["owner"], sku_id))["eligible"] is True

    # Renaming the authority lapses its verification: its inspections stop counting.
    renamed = await authority["owner"].patch("/api/v1/organisations/jingyu-amr", json={"name": "靖宇县检测站"})
    assert renamed.status_code == 200 and renamed.json()["is_verified"] is False
    assert (await _gate(seller["owner"], sku_id))["eligible"] is False
    listed = (await seller["owner"].get(url)).json()
    assert listed[0]["authority_name"] == "靖宇县检测站" and listed[0]["counts"] is False

    # Verified again, then revoked by an administrator.
    request = await verify_organisation(admin, authority["owner"], "jingyu-amr")
    assert (await _gate(seller["owner"], sku_id))["eligible"] is True
    revoked = await admin.post(f"/api/v1/org-verifications/{request['id']}/revoke", json={"reason": "资质已撤销"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
    assert (await _gate(seller["owner"], sku_id))["eligible"] is False
    again = await authority["inspector"].post(url, json=inspection_body())
    assert again.status_code == 403 and again.json()["code"] == "authority_not_verified"


async def test_inspections_from_before_authorities_stay_but_do_not_count(
    app: FastAPI, make_org: Callable[..., Any]
) -> None:
    """How migration 0014 treats existing rows: authority_id NULL, listed, never counted."""
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    async with app.state.ctx.uow() as uow:
        uow.session.add(
            Inspection(
                product_id=product["id"],
                inspector_id=seller.ids["inspector"],
                sample_date=date(2026, 11, 1),
                lab_name="自家检测室",
                certificate_no="OLD-1",
                items_checked=["农药残留"],
                result=InspectionResult.PASS,
                valid_until=date(2099, 12, 31),
            )
        )
    listed = (await seller["owner"].get(f"/api/v1/products/{product['id']}/inspections")).json()
    assert [(i["certificate_no"], i["authority_id"], i["counts"]) for i in listed] == [("OLD-1", None, False)]
    assert (await _gate(seller["owner"], product["skus"][0]["id"]))["status"] == "none"
    page = (await seller["owner"].get(f"/p/{product['id']}")).text
    assert "OLD-1" in page and 'data-testid="badge-inspected"' not in page


async def test_an_inspector_of_several_authorities_names_the_one_acting(
    app: FastAPI, make_client: MakeClient, make_org: Callable[..., Any], admin: httpx.AsyncClient
) -> None:
    seller = await make_org("seller")
    product = await create_product(seller, publish=True)
    county = await make_authority(app, make_client, "jingyu-amr", admin=admin)
    province = await make_authority(app, make_client, "jilin-amr", JILIN, admin=admin)
    async with app.state.ctx.uow() as uow:
        user = await uow.session.scalar(sa.select(User).where(User.email == "inspector@jingyu-amr.example.com"))
        org = await uow.session.scalar(sa.select(Organisation).where(Organisation.slug == "jilin-amr"))
        assert user is not None and org is not None
        await actions.add_member(uow, None, org, user, Role.INSPECTOR)
    url = f"/api/v1/products/{product['id']}/inspections"
    unnamed = await county["inspector"].post(url, json=inspection_body())
    assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "authority", unnamed.text
    other = await county["inspector"].post(url, json=inspection_body(authority="seller"))
    assert other.status_code == 403 and other.json()["code"] == "not_an_inspector"
    named = await county["inspector"].post(url, json=inspection_body(authority="jilin-amr"))
    assert named.status_code == 201 and named.json()["authority_slug"] == "jilin-amr", named.text
    assert province["inspector"] is not None


async def test_an_authority_inspector_samples_a_draft_before_listing(
    app: FastAPI, make_client: MakeClient, make_org: Callable[..., Any], admin: httpx.AsyncClient
) -> None:
    seller = await make_org("seller")
    draft = await create_product(seller)
    county = await make_authority(app, make_client, "jingyu-amr", admin=admin)
    far = await make_authority(app, make_client, "jiaozhou-amr", JIAOZHOU, admin=admin)
    assert (await far["inspector"].get(f"/p/{draft['id']}")).status_code == 404
    page = await county["inspector"].get(f"/p/{draft['id']}")
    assert page.status_code == 200 and 'data-testid="record-inspection"' in page.text
    form = await county["inspector"].get(f"/p/{draft['id']}/inspections/new")
    assert form.status_code == 200 and "jingyu-amr" in form.text
    csrf = county["inspector"].headers["X-CSRF-Token"]
    values = {
        "csrf_token": csrf,
        "authority": "jingyu-amr",
        "sample_date": "2026-11-01",
        "lab_name": "靖宇县检测中心",
        "certificate_no": "JY-PAGE-1",
        "items_checked": "农药残留, 重金属",
        "result": "pass",
        "valid_until": "2099-12-31",
    }
    done = await county["inspector"].post(f"/p/{draft['id']}/inspections/new", data=values)
    assert done.status_code == 303, done.text
    shown = (await seller["owner"].get(f"/p/{draft['id']}")).text
    assert 'data-testid="badge-authority">jingyu-amr 市场监督管理局' in shown and "JY-PAGE-1" in shown
    # The seller's own inspector gets the form back with the reason, on the authority field.
    own_values = {**values, "authority": "seller", "csrf_token": seller["inspector"].headers["X-CSRF-Token"]}
    own = await seller["inspector"].post(f"/p/{draft['id']}/inspections/new", data=own_values)
    assert own.status_code == 422 and 'data-testid="error-authority"' in own.text


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_admin_pages_decide_and_refuse_others(
    decision: str, app: FastAPI, make_client: MakeClient, admin: httpx.AsyncClient
) -> None:
    authority = await make_authority(app, make_client, "jingyu-amr")
    owner = authority["owner"]
    csrf = owner.headers["X-CSRF-Token"]
    page = await owner.get("/orgs/jingyu-amr/verification")
    assert page.status_code == 200 and 'data-testid="org-unverified"' in page.text
    bad = await owner.post(
        "/orgs/jingyu-amr/verification",
        data={"csrf_token": csrf, "jurisdiction_code": "999999", "evidence_note": "x" * 20},
    )
    assert bad.status_code == 422 and 'data-testid="error-jurisdiction_code"' in bad.text
    applied = await owner.post(
        "/orgs/jingyu-amr/verification",
        data={"csrf_token": csrf, "jurisdiction_code": JINGYU, "evidence_note": "x" * 20},
    )
    assert applied.status_code == 303, applied.text
    request_id = (await owner.get("/api/v1/organisations/jingyu-amr/verifications")).json()[0]["id"]
    assert (await owner.get("/admin/org-verifications")).status_code == 403
    refused = await owner.post(f"/admin/org-verifications/{request_id}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 403
    queue = await admin.get("/admin/org-verifications")
    assert queue.status_code == 200 and f'data-testid="org-request-{request_id}"' in queue.text
    admin_csrf = admin.headers["X-CSRF-Token"]
    done = await admin.post(
        f"/admin/org-verifications/{request_id}/{decision}", data={"csrf_token": admin_csrf, "reason": "已电话核实"}
    )
    assert done.status_code == 303, done.text
    verified = (await owner.get("/api/v1/organisations/jingyu-amr")).json()["is_verified"]
    assert verified is (decision == "approve")
    shown = (await make_client().get("/orgs/jingyu-amr")).text
    assert ('data-testid="org-verified"' in shown) is (decision == "approve")
