"""Trust model for authorities in a real browser (#14.1): a platform admin verifies a county
government's kind and a market-supervision office; the office's inspector records an inspection
and the product page's badge names the office and its certificate. The seller's own "inspector"
cannot make the badge appear.

Accounts, organisations, invitations and the verification requests are made over the JSON API;
the decisions and the inspections happen in the browser."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN, Credentials, NewContext
from tests.e2e.shows import (
    api,
    apply_for_org_verification,
    inspection_authority,
    join_by_invitation,
    ok,
    person,
    sign_up,
)
from tests.factories import product_body, supplier_body

pytestmark = pytest.mark.e2e

CERTIFICATE_NO = "JY-AMR-2026-007"
OWN_CERTIFICATE_NO = "SELF-0001"


@dataclass(frozen=True)
class Setup:
    product_id: int
    government_slug: str
    government_request: int
    authority_slug: str
    authority_name: str
    authority_request: int
    own_inspector: Credentials
    inspector: Credentials


def _set_up(base_url: str) -> Setup:
    """A county government selling its county's blueberries, with its own "inspector" (invited
    by itself, as in the finding), and a county market-supervision office with an inspector;
    both organisations have asked for verification, neither is verified yet."""
    suffix = secrets.token_hex(3)
    owner = person("gov", "owner", suffix, "县长")
    own_inspector = person("gov", "own-inspector", suffix, "自家检测员")
    inspector = person("amr", "inspector", suffix, "抽检员")
    slug = f"jingyu-gov-{suffix}"
    with api(base_url) as owner_api, api(base_url) as own_api, api(base_url) as inspector_api:
        sign_up(owner_api, owner)
        sign_up(own_api, own_inspector)
        sign_up(inspector_api, inspector)
        body = {"slug": slug, "name": f"靖宇县人民政府{suffix}", "kind": "government", "region": "吉林省白山市靖宇县"}
        ok(owner_api.post("/api/v1/organisations", json=body), 201)
        join_by_invitation(owner_api, own_api, slug, own_inspector.email, "inspector")
        government_request = apply_for_org_verification(owner_api, slug)
        supplier = supplier_body(name="靖宇县蓝莓种植专业合作社", contact_name="李", contact_phone="0439-0000000")
        supplier_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier), 201)["id"]
        made = ok(owner_api.post(f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id)), 201)
        ok(owner_api.post(f"/api/v1/products/{made['id']}/publish", json={}))
        authority_slug, authority_name = inspection_authority(
            base_url, inspector_api, inspector.email, suffix, verify=False
        )
    with api(base_url) as anyone:
        ok(anyone.post("/api/v1/auth/signin", json={"email": ADMIN.email, "password": ADMIN.password}))
        queue = ok(anyone.get("/api/v1/org-verifications", params={"status": "pending", "limit": 200}))
    authority_request = next(v["id"] for v in queue["items"] if v["organisation_slug"] == authority_slug)
    return Setup(
        int(made["id"]),
        slug,
        government_request,
        authority_slug,
        authority_name,
        authority_request,
        own_inspector,
        inspector,
    )


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    page.goto(f"/signin?next={then}")
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _fill_inspection(page: Page, certificate_no: str) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    page.locator("#f-sample_date").fill(today.isoformat())
    page.locator("#f-lab_name").fill("白山市食品检验检测中心")
    page.locator("#f-certificate_no").fill(certificate_no)
    page.locator("#f-items_checked").fill("农药残留，重金属")
    page.locator("#f-result").select_option("pass")
    page.locator("#f-valid_until").fill((today + timedelta(days=180)).isoformat())
    page.get_by_test_id("save-inspection").click()


def test_admin_verifies_an_authority_whose_inspection_badges_the_product(
    new_context: NewContext, live_server: str
) -> None:
    setup = _set_up(live_server)
    product_path = f"/p/{setup.product_id}"

    # Before any decision both claims show as unverified.
    visitor = new_context().new_page()
    visitor.goto(f"/orgs/{setup.authority_slug}")
    expect(visitor.get_by_test_id("org-unverified")).to_be_visible()

    # The seller's own "inspector" finds no way to badge its goods: no button, and the form,
    # reached by its address, is refused with the reason on the authority field.
    own = new_context().new_page()
    _sign_in(own, setup.own_inspector, then=product_path)
    expect(own.get_by_test_id("record-inspection")).to_have_count(0)
    own.goto(f"{product_path}/inspections/new")
    _fill_inspection(own, OWN_CERTIFICATE_NO)
    expect(own.get_by_test_id("error-authority")).to_be_visible()
    own.goto(product_path)
    expect(own.get_by_test_id("badge-inspection-none")).to_be_visible()
    expect(own.get_by_test_id("badge-inspected")).to_have_count(0)

    # The platform admin approves both requests in the review queue.
    admin = new_context().new_page()
    _sign_in(admin, ADMIN, then="/admin/org-verifications")
    for request_id in (setup.government_request, setup.authority_request):
        request = admin.get_by_test_id(f"org-request-{request_id}")
        expect(request).to_be_visible()
        request.locator("input[name=reason]").first.fill("已核对机构名录并回拨办公电话")
        admin.get_by_test_id(f"approve-org-{request_id}").click()
        expect(admin).to_have_url(re.compile(r"/admin/org-verifications\?status=pending$"))
        expect(admin.get_by_test_id(f"org-request-{request_id}")).to_have_count(0)
    visitor.goto(f"/orgs/{setup.authority_slug}")
    expect(visitor.get_by_test_id("org-verified")).to_be_visible()
    visitor.goto(f"/orgs/{setup.government_slug}")
    expect(visitor.get_by_test_id("org-verified")).to_be_visible()

    # Verified or not, the government's own inspector still cannot inspect its goods.
    own.goto(f"{product_path}/inspections/new")
    _fill_inspection(own, OWN_CERTIFICATE_NO)
    expect(own.get_by_test_id("error-authority")).to_be_visible()

    # The office's inspector records the inspection from the product page.
    inspector = new_context().new_page()
    _sign_in(inspector, setup.inspector, then=product_path)
    inspector.get_by_test_id("record-inspection").click()
    expect(inspector).to_have_url(re.compile(rf"{product_path}/inspections/new$"))
    expect(inspector.get_by_test_id("authority-select")).to_have_value(setup.authority_slug)
    _fill_inspection(inspector, CERTIFICATE_NO)
    expect(inspector).to_have_url(re.compile(rf"{product_path}$"))

    # Anyone now sees the badge naming the office and its certificate.
    visitor.goto(product_path)
    badge = visitor.get_by_test_id("badge-inspected")
    expect(badge).to_be_visible()
    expect(badge.get_by_test_id("badge-authority")).to_have_text(setup.authority_name)
    expect(badge).to_contain_text(CERTIFICATE_NO)
    expect(visitor.get_by_test_id("org-verified")).to_be_visible()  # the seller, a verified government
    row = visitor.get_by_test_id("inspection-row").filter(has_text=CERTIFICATE_NO)
    expect(row.get_by_test_id("inspection-authority")).to_have_text(setup.authority_name)
    expect(visitor.get_by_test_id("inspection-row").filter(has_text=OWN_CERTIFICATE_NO)).to_have_count(0)
