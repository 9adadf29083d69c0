"""axe-core on the pages people use most: home, a live room (as a viewer and as its host's console),
a product page and a storefront, in Chinese and in English. A serious or critical violation fails
the test; minor and moderate ones are printed for the record.

axe-core is the npm devDependency that `make install` puts in node_modules (nothing is fetched at
run time); it is injected into each page after it has loaded. One show is made over the JSON API
for the whole module, started, with its product pinned and a chat message posted, so the room and
the console are tested as they look during a show."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import unavailable
from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import Offer, ScheduledShow, api, ok, person, schedule_show, sign_up, with_csrf
from tests.factories import png_bytes

pytestmark = pytest.mark.e2e

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = frozenset({"serious", "critical"})
LOCALES = ("zh-CN", "en-US")
# Each page as the people who see it: anyone, a signed-in viewer (who gets the chat box and the
# buy buttons), and for the console the show's host.
VISITS = [
    ("home", "anonymous"),
    ("home", "viewer"),
    ("room", "anonymous"),
    ("room", "viewer"),
    ("console", "host"),
    ("product", "anonymous"),
    ("product", "viewer"),
    ("storefront", "anonymous"),
    ("storefront", "viewer"),
    # Integrity: the show's public ledger, and for its organisation's owner the supervisor's view
    # and the show's integrity report.
    ("ledger", "anonymous"),
    ("supervision", "owner"),
    ("integrity", "owner"),
    # The phone layouts: the room's video stage with the chat and buttons over it, the cockpit's dock.
    ("room", "viewer-phone"),
    ("console", "host-phone"),
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
CHAT_LINE = "蓝莓甜吗？"

# Every rule axe has except the experimental ones; the result's passes and incomplete checks are
# dropped in the page so only violations cross back to Python.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
  }));
}"""


@dataclass(frozen=True)
class Show:
    """A started show with a pinned product that has a picture, and one chat message by `viewer`."""

    scheduled: ScheduledShow
    viewer: Credentials

    @property
    def paths(self) -> dict[str, str]:
        s = self.scheduled
        return {
            "home": "/",
            "room": f"/live/{s.session_id}",
            "console": f"/live/{s.session_id}/console",
            "product": f"/p/{s.product_id}",
            "storefront": f"/s/{s.org_slug}",
            "ledger": f"/live/{s.session_id}/ledger",
            "supervision": "/integrity",
            "integrity": f"/integrity/sessions/{s.session_id}",
        }


@pytest.fixture(scope="module")
def show(live_server: str) -> Show:
    if not AXE_JS.exists():
        unavailable(f"{AXE_JS} is missing: `make install` runs npm ci, which installs axe-core")
    suffix = secrets.token_hex(3)
    offer = Offer(
        org_name=f"靖宇县蓝莓合作社{suffix}",
        supplier_name="靖宇县蓝莓种植专业合作社",
        title=f"靖宇蓝莓 5斤装 {suffix}",
        description="长白山脚下的蓝莓，当天采摘，冷链发货。",
        sku={"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100},
        show_title=f"靖宇蓝莓助农直播 {suffix}",
        live_price_fen=7900,
    )
    scheduled = schedule_show(live_server, "a11y-", suffix, offer)
    sid = scheduled.session_id
    with api(live_server) as owner_api, api(live_server) as host_api, api(live_server) as viewer_api:
        for client, who in ((owner_api, scheduled.owner), (host_api, scheduled.host)):
            ok(client.post("/api/v1/auth/signin", json={"email": who.email, "password": who.password}))
            with_csrf(client)
        picture = {"image": ("berries.png", png_bytes((800, 600), "purple"), "image/png")}
        ok(owner_api.post(f"/api/v1/products/{scheduled.product_id}/images", files=picture), 201)
        ok(host_api.post(f"/api/v1/sessions/{sid}/start"))
        ok(host_api.post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": scheduled.sku_id}), 201)
        viewer = person("a11y-", "viewer", suffix, "观众")
        sign_up(viewer_api, viewer)
        ok(viewer_api.post(f"/api/v1/sessions/{sid}/chat", json={"body": CHAT_LINE}), 201)
    return Show(scheduled, viewer)


def _sign_in(context: BrowserContext, who: Credentials) -> None:
    """Sign in on the context's cookie jar through the API (the pages are what is tested here)."""
    response = context.request.post("/api/v1/auth/signin", data={"email": who.email, "password": who.password})
    assert response.ok, f"sign-in failed: {response.status} {response.text()}"


def _ready(page: Page, name: str) -> None:
    """Wait for what the page's scripts fill in, so axe sees the page a person would."""
    if name == "room":
        expect(page.get_by_text(CHAT_LINE).first).to_be_visible()
        expect(page.get_by_test_id("pinned")).to_be_visible()


def _violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    {json.dumps(node['target'], ensure_ascii=False)}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    return "\n".join(lines)


@pytest.mark.parametrize(("name", "who"), VISITS, ids=[f"{name}-{who}" for name, who in VISITS])
@pytest.mark.parametrize("locale", LOCALES)
def test_axe_finds_no_serious_or_critical_violation(
    new_context: NewContext, show: Show, locale: str, name: str, who: str
) -> None:
    # The site's CSP allows no inline script, which is how Playwright injects axe.
    person, _, device = who.partition("-")
    context = new_context(locale=locale, bypass_csp=True, **(PHONE if device == "phone" else {}))
    if person != "anonymous":
        who_signs_in = {"host": show.scheduled.host, "owner": show.scheduled.owner}.get(person, show.viewer)
        _sign_in(context, who_signs_in)
    page = context.new_page()
    response = page.goto(show.paths[name])
    assert response is not None and response.status == 200, f"{show.paths[name]}: {response and response.status}"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if locale == "zh-CN" else "en")
    _ready(page, name)
    where = f"{name} as {who} ({locale}, {show.paths[name]})"

    violations = _violations(page)
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    others = [v for v in violations if v["impact"] not in FAILING_IMPACTS]
    if others:
        print(f"\n{where}, minor and moderate:\n{_describe(others)}")
    assert not failing, f"{where}: serious or critical violations:\n{_describe(failing)}"
