"""The catalog in a real browser: a product goes from a draft with forbidden wording and an image,
through a refused publish and a fix, to a passing inspection and the public storefront; and the
product page and storefront fit a phone screen.

Accounts, the organisation and the inspector's membership are made over the JSON API (fast and not
what these tests are about); everything the issue asks a person to do happens in the browser."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import inspection_authority, ok, sign_up
from tests.factories import JINGYU, PASSWORD, product_body, supplier_body

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE_WITH_CLAIMS = "全县第一的靖宇蓝莓 提高免疫力"
CLAIM_TERMS = ("第一", "提高免疫力")  # absolute term (Art. 9) and a health-efficacy claim for ordinary food
CLEAN_TITLE = "靖宇蓝莓 5斤装"
DESCRIPTION = "长白山脚下的野生蓝莓，七月采摘，当天冷链发货。"
CERTIFICATE_NO = "JY-E2E-001"
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}


@dataclass(frozen=True)
class Org:
    """An organisation with an owner, and an inspector of the county's verified market-supervision
    office, both with API clients signed in."""

    slug: str
    name: str
    owner: Credentials
    inspector: Credentials
    owner_api: httpx.Client
    inspector_api: httpx.Client


@pytest.fixture
def org(live_server: str) -> Iterator[Org]:
    """A fresh cooperative (its own slug, so tests share the server without seeing each other's data)."""
    suffix = secrets.token_hex(3)
    owner = Credentials(f"owner-{suffix}@e2e.example.com", PASSWORD, f"合作社理事长{suffix}")
    inspector = Credentials(f"inspector-{suffix}@e2e.example.com", PASSWORD, f"市场监管所{suffix}")
    slug, name = f"jingyu-{suffix}", f"靖宇县蓝莓合作社{suffix}"
    with (
        httpx.Client(base_url=live_server, timeout=10.0) as owner_api,
        httpx.Client(base_url=live_server, timeout=10.0) as inspector_api,
    ):
        sign_up(owner_api, owner)
        sign_up(inspector_api, inspector)
        body = {"slug": slug, "name": name, "kind": "cooperative", "region": "吉林省白山市靖宇县"}
        ok(owner_api.post("/api/v1/organisations", json=body), 201)
        inspection_authority(live_server, inspector_api, inspector.email, suffix)
        yield Org(slug, name, owner, inspector, owner_api, inspector_api)


def _png(path: Path, width: int = 640, height: int = 480) -> Path:
    """A real PNG (the server decodes uploads and re-encodes them as WebP)."""
    image = Image.new("RGB", (width, height), (58, 76, 160))
    image.paste((120, 150, 220), (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    image.save(path, "PNG")
    return path


def _submit(page: Page, action: str) -> None:
    page.locator(f"form[action='{action}'] [type=submit]").click()


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    """Sign in on the form the page shows, and land on `then` (the form's `next`)."""
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    _submit(page, "/signin")
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _shanghai_today() -> date:
    """The server judges "not in the future" by the date in Asia/Shanghai, whatever this machine's zone."""
    return datetime.now(SHANGHAI).date()


def _image_width(image: Locator) -> int:
    """The decoded width of an <img>: 0 or an exception when the browser could not load it."""
    width: int = image.evaluate("img => img.decode().then(() => img.naturalWidth)")
    return width


def _fits_screen(page: Page) -> None:
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{page.url} is {scroll_width}px wide on a {inner_width}px phone screen"


def test_product_goes_from_claim_warning_to_inspected_on_the_storefront(
    new_context: NewContext, org: Org, tmp_path: Path
) -> None:
    owner = new_context().new_page()

    # A supplier, picking the region through the cascading selects first, then typing the code.
    owner.goto(f"/orgs/{org.slug}/suppliers")  # needs an account: sends us to sign in first
    _sign_in(owner, org.owner, then=f"/orgs/{org.slug}/suppliers")
    code = owner.locator("#f-ship_from_region")
    picker = owner.locator("[data-region-picker]").filter(has=code)
    expect(picker.locator(".region-selects")).to_be_visible()
    picker.locator("select[data-level=province]").select_option("220000")
    expect(code).to_have_value("220000")
    picker.locator("select[data-level=city]").select_option("220600")
    expect(code).to_have_value("220600")
    picker.locator("select[data-level=county]").select_option(JINGYU)
    expect(code).to_have_value(JINGYU)
    code.fill(JINGYU)
    owner.locator("#f-name").fill("靖宇县蓝莓种植专业合作社")
    owner.locator("#f-kind").select_option("cooperative")
    owner.locator("#f-contact_name").fill("李春生")
    owner.locator("#f-contact_phone").fill("0439-0000000")
    _submit(owner, f"/orgs/{org.slug}/suppliers")
    expect(owner).to_have_url(re.compile(rf"/orgs/{org.slug}/suppliers$"))
    expect(owner.get_by_test_id("supplier-row").filter(has_text="靖宇县蓝莓种植专业合作社")).to_contain_text("靖宇县")

    # A draft whose title breaks the Advertising Law.
    owner.goto(f"/orgs/{org.slug}/products/new")
    owner.locator("#f-title").fill(TITLE_WITH_CLAIMS)
    owner.locator("#f-description").fill(DESCRIPTION)
    owner.locator("#f-category").select_option("fresh_produce")
    owner.locator("#f-origin_region").fill(JINGYU)
    owner.locator("#f-sku_spec_label").fill("5斤装")
    owner.locator("#f-sku_price_yuan").fill("99.00")
    owner.locator("#f-sku_weight_g").fill("2500")
    owner.locator("#f-sku_shelf_life_days").fill("7")
    owner.locator("#f-sku_stock").fill("50")
    _submit(owner, f"/orgs/{org.slug}/products/new")
    expect(owner).to_have_url(re.compile(r"/p/\d+/edit$"))
    product_id = int(re.findall(r"/p/(\d+)/edit$", owner.url)[0])
    edit_path = f"/p/{product_id}/edit"

    warnings = owner.get_by_test_id("claim-warnings")
    expect(warnings).to_be_visible()
    hits = warnings.get_by_test_id("claim-hit")
    expect(hits).to_have_count(len(CLAIM_TERMS))
    for term in CLAIM_TERMS:
        expect(hits.filter(has_text=term)).to_have_count(1)

    # An image, through the file input.
    owner.locator("#f-image").set_input_files(_png(tmp_path / "blueberries.png"))
    _submit(owner, f"/p/{product_id}/images")
    expect(owner).to_have_url(re.compile(rf"{edit_path}$"))
    expect(owner.get_by_test_id("edit-image")).to_have_count(1)

    # Publishing with the warnings open and no reason is refused, and the page says why.
    with owner.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/publish")) as refused:
        owner.get_by_test_id("publish").click()
    assert refused.value.status == 422, f"publishing over open warnings answered {refused.value.status}, not 422"
    expect(owner.get_by_test_id("error-override_reason")).to_be_visible()
    expect(owner.get_by_test_id("error-override_reason")).to_contain_text("提高免疫力")
    assert ok(org.owner_api.get(f"/api/v1/products/{product_id}"))["status"] == "draft"

    # Fix the wording: the warnings go, and it publishes without a reason.
    owner.locator("#f-title").fill(CLEAN_TITLE)
    _submit(owner, edit_path)
    expect(owner).to_have_url(re.compile(rf"{edit_path}$"))
    expect(owner.locator("h1")).to_contain_text(CLEAN_TITLE)
    expect(owner.get_by_test_id("claim-warnings")).to_have_count(0)
    expect(owner.locator("#f-override_reason")).to_have_count(0)
    owner.get_by_test_id("publish").click()
    expect(owner).to_have_url(re.compile(rf"/p/{product_id}$"))
    expect(owner.get_by_test_id("product-title")).to_have_text(CLEAN_TITLE)
    expect(owner.get_by_test_id("record-inspection")).to_have_count(0)  # owners do not inspect

    # The county office's inspector records a passing sampling inspection.
    inspector = new_context().new_page()
    inspector.goto(f"/signin?next=/p/{product_id}")
    _sign_in(inspector, org.inspector, then=f"/p/{product_id}")
    expect(inspector.get_by_test_id("badge-inspection-none")).to_be_visible()
    inspector.get_by_test_id("record-inspection").click()
    expect(inspector).to_have_url(re.compile(rf"/p/{product_id}/inspections/new$"))
    today = _shanghai_today()
    inspector.locator("#f-sample_date").fill(today.isoformat())
    inspector.locator("#f-lab_name").fill("白山市食品检验检测中心")
    inspector.locator("#f-certificate_no").fill(CERTIFICATE_NO)
    inspector.locator("#f-items_checked").fill("农药残留，重金属")
    inspector.locator("#f-result").select_option("pass")
    inspector.locator("#f-valid_until").fill((today + timedelta(days=365)).isoformat())
    inspector.get_by_test_id("save-inspection").click()
    expect(inspector).to_have_url(re.compile(rf"/p/{product_id}$"))
    expect(inspector.get_by_test_id("badge-inspected")).to_contain_text(CERTIFICATE_NO)

    # Anyone, signed out: the storefront card carries the badge, the product page the certificate and photo.
    visitor = new_context().new_page()
    visitor.goto(f"/s/{org.slug}")
    expect(visitor.get_by_test_id("storefront-brand")).to_have_text(org.name)
    card = visitor.get_by_test_id("product-card").filter(has_text=CLEAN_TITLE)
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("badge-inspected")).to_be_visible()
    thumb = card.locator("img.thumb")
    expect(thumb).to_have_attribute("src", re.compile(r"^/media/"))
    assert _image_width(thumb) > 0

    card.locator("a.product-link").click()
    expect(visitor).to_have_url(re.compile(rf"/p/{product_id}$"))
    expect(visitor.get_by_test_id("product-title")).to_have_text(CLEAN_TITLE)
    expect(visitor.get_by_test_id("badge-inspected")).to_contain_text(CERTIFICATE_NO)
    image = visitor.get_by_test_id("product-image")
    expect(image).to_have_count(1)
    expect(image).to_have_attribute("src", re.compile(r"^/media/"))
    assert _image_width(image) == 640
    expect(visitor.get_by_test_id("record-inspection")).to_have_count(0)


def test_product_page_and_storefront_fit_a_phone_screen(new_context: NewContext, org: Org, tmp_path: Path) -> None:
    """A published, inspected product with a wide photo and several packs, set up over the API."""
    api = org.owner_api
    supplier = supplier_body(name="靖宇县蓝莓种植专业合作社", contact_name="李春生", contact_phone="0439-0000000")
    supplier_id = ok(api.post(f"/api/v1/organisations/{org.slug}/suppliers", json=supplier), 201)["id"]
    skus = [
        {"spec_label": label, "price_fen": price, "weight_g": grams, "shelf_life_days": 7, "stock": 50}
        for label, price, grams in (("5斤装", 9900, 2500), ("2.5斤礼盒装（冷链直发）", 5990, 1250))
    ]
    product = product_body(
        supplier_id, title="靖宇县长白山野生蓝莓 当季鲜果 冷链直发 5斤装礼盒", description=DESCRIPTION * 6, skus=skus
    )
    product_id = ok(api.post(f"/api/v1/organisations/{org.slug}/products", json=product), 201)["id"]
    photo = _png(tmp_path / "wide.png", width=1600, height=900).read_bytes()
    files = {"image": ("wide.png", BytesIO(photo), "image/png")}
    ok(api.post(f"/api/v1/products/{product_id}/images", files=files), 201)
    ok(api.post(f"/api/v1/products/{product_id}/publish", json={}))
    today = _shanghai_today()
    inspection = {
        "sample_date": today.isoformat(),
        "lab_name": "白山市食品检验检测中心",
        "certificate_no": CERTIFICATE_NO,
        "items_checked": ["农药残留", "重金属", "微生物"],
        "result": "pass",
        "valid_until": (today + timedelta(days=365)).isoformat(),
    }
    ok(org.inspector_api.post(f"/api/v1/products/{product_id}/inspections", json=inspection), 201)

    phone = new_context(**PHONE).new_page()
    phone.goto(f"/p/{product_id}")
    expect(phone.get_by_test_id("badge-inspected")).to_be_visible()
    assert _image_width(phone.get_by_test_id("product-image")) > 0
    _fits_screen(phone)

    phone.goto(f"/s/{org.slug}")
    expect(phone.get_by_test_id("product-card")).to_have_count(1)
    _fits_screen(phone)
