"""The supervisor's view: who may see it (and who may not), the counts and filters, an alert's
evidence read as figures and tables, a show's integrity report with its decisions, the exports
(CSV and XLSX) and the API; the show's orders page with its figures side by side; the ledger with
the audit log's head of the show's days."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from openpyxl import load_workbook

from fieldcast.accounts.models import Organisation
from fieldcast.db.audit import list_heads
from fieldcast.db.audit_chain import chain_day
from fieldcast.integrity import actions as a
from fieldcast.integrity import gmv as g
from fieldcast.integrity import rules as r
from fieldcast.integrity.models import AlertState, IntegrityAlert
from fieldcast.integrity.supervision import evidence_rows
from fieldcast.web.money import format_yuan
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True  # the scope and count queries, on SQLite and PostgreSQL
API = "/api/v1"
QUOTA_TOTALS = (5000, 5100, 5250, 5400, 5499)  # five buyers each paying 50.00–54.99 yuan
MEMBER_TOTAL = 6900  # the organisation's own host buys: member_of_selling_organisation


def cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(td|dd|p|li)>', html, re.S)
    assert found is not None, testid
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def csrf_of(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


async def flagged_show(app: FastAPI) -> tuple[World, dict[str, int]]:
    """A show with a round-quota alert (high, on the show) and a member-buyer alert (medium, on an
    order), plus an unpaid order. The alerts' ids by rule."""
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        for buyer, total in zip(w.shop.buyers, QUOTA_TOTALS, strict=False):
            await place(uow, w, buyer, total)
        await place(uow, w, w.people["host"], MEMBER_TOTAL)
        await place(uow, w, w.shop.buyers[5], 9900, paid=False)
    async with app.state.ctx.uow() as uow:
        added = await a.run_rules(uow, w.session_id)
        ids = {x.rule: x.id for x in added}
    assert set(ids) == {r.ROUND_QUOTA, r.MEMBER_BUYER}
    return w, ids


async def slug_of(app: FastAPI, w: World) -> str:
    async with app.state.ctx.uow(write=False) as uow:
        org = await uow.session.get(Organisation, w.shop.org_id)
        assert org is not None
        return org.slug


PAID = sum(QUOTA_TOTALS) + MEMBER_TOTAL
RAW = PAID + 9900


async def test_who_may_see_the_supervisors_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    w, ids = await flagged_show(app)
    other, _ = await flagged_show(app)  # another organisation, with its own supervisor
    alert_id = ids[r.ROUND_QUOTA]
    paths = [
        "/integrity",
        f"/integrity/sessions/{w.session_id}",
        f"/integrity/alerts/{alert_id}",
        "/integrity/alerts.csv",
        "/integrity/shows.xlsx",
    ]
    for path in paths:
        anonymous = await client.get(path)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin?next="), path
        for who in ("supervisor", "owner", "organiser", "admin"):
            assert (await client.get(path, headers=w.headers[who])).status_code == 200, (path, who)
        for who in ("host", "supplier", "inspector", "outsider"):
            assert (await client.get(path, headers=w.headers[who])).status_code == 403, (path, who)
    # Another organisation's supervisor sees their own view, never this show, alert or organisation.
    theirs = other.headers["supervisor"]
    assert (await client.get(f"/integrity/sessions/{w.session_id}", headers=theirs)).status_code == 403
    assert (await client.get(f"/integrity/alerts/{alert_id}", headers=theirs)).status_code == 403
    page = await client.get("/integrity", headers=theirs)
    assert page.status_code == 200
    assert f'data-session-id="{other.session_id}"' in page.text and f'data-session-id="{w.session_id}"' not in page.text
    assert f'data-alert-id="{alert_id}"' not in page.text
    slug = await slug_of(app, w)
    assert (await client.get(f"/integrity?org={slug}", headers=theirs)).status_code == 403
    assert (await client.get(f"/integrity/alerts.csv?org={slug}", headers=theirs)).status_code == 403
    # The API answers alike.
    assert (await client.get(f"{API}/alerts/{alert_id}", headers=theirs)).status_code == 403
    assert (await client.get(f"{API}/alerts/{alert_id}", headers=w.headers["host"])).status_code == 403
    assert (await client.get(f"{API}/supervision/alerts", headers=w.headers["supplier"])).status_code == 403
    assert (await client.get(f"{API}/supervision/alerts")).status_code == 401
    # The platform administrator sees both organisations, and has the view in the menu.
    admin_page = (await client.get("/integrity", headers=w.headers["admin"])).text
    assert f'data-session-id="{other.session_id}"' in admin_page and f'data-session-id="{w.session_id}"' in admin_page
    assert 'data-testid="nav-integrity"' in admin_page
    assert (await client.get("/integrity?org=no-such-org", headers=w.headers["admin"])).status_code == 404
    # The account page links it beside the organisations one may supervise, and only there.
    for who, linked in (("supervisor", True), ("organiser", True), ("host", False), ("supplier", False)):
        account = (await client.get("/account", headers=w.headers[who])).text
        assert ('data-testid="account-integrity-link"' in account) is linked, who
        assert ('data-testid="nav-integrity"' in account) is linked, who  # the menu too


async def test_counts_filters_and_the_shows_figures(app: FastAPI, client: httpx.AsyncClient) -> None:
    w, ids = await flagged_show(app)
    sup = w.headers["supervisor"]
    html = (await client.get("/integrity", headers=sup)).text
    counts = re.findall(r'data-testid="alert-count" data-rule="([a-z_]+)" data-severity="([a-z]+)"', html)
    assert counts == [(r.ROUND_QUOTA, "high"), (r.MEMBER_BUYER, "medium")]  # the most severe first
    assert "凑整额度" in html  # the rule's name in Chinese
    row = html.split(f'data-session-id="{w.session_id}"')[1].split("</tr>")[0]
    assert format_yuan(RAW) in row and format_yuan(PAID) in row and format_yuan(0) in row  # the whole show flagged
    high = (await client.get("/integrity?severity=high", headers=sup)).text
    assert f'data-alert-id="{ids[r.ROUND_QUOTA]}"' in high and f'data-alert-id="{ids[r.MEMBER_BUYER]}"' not in high
    by_rule = (await client.get(f"/integrity?rule={r.MEMBER_BUYER}", headers=sup)).text
    assert (
        f'data-alert-id="{ids[r.MEMBER_BUYER]}"' in by_rule and f'data-alert-id="{ids[r.ROUND_QUOTA]}"' not in by_rule
    )
    closed = (await client.get("/integrity?state=false_alarm", headers=sup)).text
    assert 'data-testid="alert-row"' not in closed and 'data-testid="no-alerts"' in closed

    body = (await client.get(f"{API}/supervision/alerts", params={"severity": "medium"}, headers=sup)).json()
    assert [(c["rule"], c["open"], c["total"]) for c in body["counts"]] == [(r.MEMBER_BUYER, 1, 1)]
    assert [x["id"] for x in body["items"]] == [ids[r.MEMBER_BUYER]]
    assert body["items"][0]["session_title"] and body["items"][0]["organisation_slug"] == await slug_of(app, w)
    bad = await client.get(f"{API}/supervision/alerts", params={"severity": "grave"}, headers=sup)
    assert bad.status_code == 422
    (show,) = (await client.get(f"{API}/supervision/shows", headers=sup)).json()
    assert (show["session_id"], show["raw_fen"], show["paid_fen"], show["verified_fen"]) == (w.session_id, RAW, PAID, 0)
    assert (show["alerts"], show["alerts_standing"]) == (2, 2)


async def test_an_alerts_evidence_reads_as_figures_and_tables(app: FastAPI, client: httpx.AsyncClient) -> None:
    w, ids = await flagged_show(app)
    html = (await client.get(f"/integrity/alerts/{ids[r.ROUND_QUOTA]}", headers=w.headers["organiser"])).text
    assert cell(html, "evidence-quota_fen").startswith("额度") or format_yuan(5000) in html
    quota = html.split('data-testid="evidence-quota_fen"')[1].split("</div>")[0]
    assert format_yuan(5000) in quota
    buyers = html.split('data-testid="evidence-buyers"')[1].split("</table>")[0]
    assert buyers.count("<tr>") == 1 + len(QUOTA_TOTALS)  # the header and one row per buyer
    for total in QUOTA_TOTALS:
        assert format_yuan(total) in buyers
    member = (await client.get(f"/integrity/alerts/{ids[r.MEMBER_BUYER]}", headers=w.headers["organiser"])).text
    roles = member.split('data-testid="evidence-roles"')[1].split("</div>")[0]
    assert "主播" in roles  # the role named in the UI language, not "host"


def test_evidence_rows_render_any_dict() -> None:
    rows = evidence_rows(
        {
            "quota_fen": 5000,
            "share": 0.5,
            "refunded_orders": [3, 4],
            "buyers": [{"buyer_id": 1, "total_fen": 5100}],
            "nested": {"a_fen": 100, "flag": True},
            "new_key_from_a_new_rule": "x",
            "ended_at": "2026-11-28T04:00:00+00:00",
        }
    )
    by_key = {row.key: row for row in rows}
    assert by_key["quota_fen"].text == format_yuan(5000)
    assert by_key["share"].text == "50.0%"
    assert by_key["refunded_orders"].items == ["3", "4"]
    assert by_key["buyers"].table == [["1", format_yuan(5100)]] and len(by_key["buyers"].headers) == 2
    assert by_key["nested"].table is not None and by_key["nested"].table[0][1] == format_yuan(100)
    assert by_key["new_key_from_a_new_rule"].label == "new key from a new rule"
    assert by_key["ended_at"].text is not None and "12:00" in by_key["ended_at"].text  # Beijing time


async def test_the_report_decides_alerts_and_shows_bad_input_on_the_form(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w, ids = await flagged_show(app)
    sup = w.headers["supervisor"]
    path = f"/integrity/sessions/{w.session_id}"
    html = (await client.get(path, headers=sup)).text
    assert cell(html, "report-raw") == format_yuan(RAW)
    assert cell(html, "report-paid") == format_yuan(PAID)
    assert cell(html, "report-refunded") == format_yuan(0)
    assert cell(html, "report-flagged") == format_yuan(PAID)
    assert cell(html, "report-verified") == format_yuan(0)
    assert html.count('data-testid="alert"') == 2 and html.count('data-testid="acknowledge-form"') == 2
    csrf = csrf_of(html)
    quota_id = ids[r.ROUND_QUOTA]

    empty = await client.post(
        f"/integrity/alerts/{quota_id}/acknowledge", data={"csrf_token": csrf, "note": " "}, headers=sup
    )
    assert empty.status_code == 422 and 'data-testid="error-note"' in empty.text
    assert empty.text.count('data-testid="error-note"') == 1  # beside that alert's form only
    host = await client.post(
        f"/integrity/alerts/{quota_id}/acknowledge",
        data={"csrf_token": csrf, "note": "看过"},
        headers=w.headers["host"],
    )
    assert host.status_code == 403
    done = await client.post(
        f"/integrity/alerts/{quota_id}/acknowledge", data={"csrf_token": csrf, "note": "已约谈合作社"}, headers=sup
    )
    assert done.status_code == 303 and done.headers["location"] == f"{path}#alert-{quota_id}"
    again = await client.post(
        f"/integrity/alerts/{quota_id}/acknowledge", data={"csrf_token": csrf, "note": "再看"}, headers=sup
    )
    assert again.status_code == 422 and 'data-testid="form-message"' in again.text  # no longer open

    member_id = ids[r.MEMBER_BUYER]
    no_reason = await client.post(
        f"/integrity/alerts/{member_id}/false-alarm",
        data={"csrf_token": csrf, "reason": "", "from": "alert"},
        headers=w.headers["owner"],
    )
    assert no_reason.status_code == 422 and 'data-testid="error-reason"' in no_reason.text
    assert "integrity/alerts" in str(no_reason.url) and "evidence-roles" in no_reason.text  # the alert's page again
    released = await client.post(
        f"/integrity/alerts/{member_id}/false-alarm",
        data={"csrf_token": csrf, "reason": "主播自费购买，已核实", "from": "alert"},
        headers=w.headers["owner"],
    )
    assert released.status_code == 303 and released.headers["location"] == f"/integrity/alerts/{member_id}"
    async with app.state.ctx.uow(write=False) as uow:
        states = dict((await uow.session.execute(sa.select(IntegrityAlert.id, IntegrityAlert.state))).all())
    assert states[quota_id] == AlertState.ACKNOWLEDGED and states[member_id] == AlertState.FALSE_ALARM

    html = (await client.get(path, headers=sup)).text
    assert "已约谈合作社" in html and "主播自费购买，已核实" in html
    assert html.count('data-testid="acknowledge-form"') == 0 and html.count('data-testid="false-alarm-form"') == 1
    assert cell(html, "report-flagged") == format_yuan(PAID)  # acknowledged still stands; the quota flags the show


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_lists_export_with_labelled_columns(app: FastAPI, client: httpx.AsyncClient, fmt: str) -> None:
    w, ids = await flagged_show(app)
    sup = w.headers["supervisor"]

    def table(response: httpx.Response) -> list[list[str]]:
        assert response.status_code == 200, response.text
        assert f'.{fmt}"' in response.headers["content-disposition"]
        if fmt == "csv":
            text = response.content.decode("utf-8-sig")
            return list(csv.reader(io.StringIO(text)))
        sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
        return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]

    alerts = table(await client.get(f"/integrity/alerts.{fmt}", headers=sup))
    head, *rows = alerts
    assert head[0] == "预警" and "规则" in head and "证明材料" in head  # labelled in the UI language
    assert sorted(int(float(row[0])) for row in rows) == sorted(ids.values())
    high = table(await client.get(f"/integrity/alerts.{fmt}?severity=high", headers=sup))
    assert [int(float(row[0])) for row in high[1:]] == [ids[r.ROUND_QUOTA]]

    shows = table(await client.get(f"/integrity/shows.{fmt}", headers=sup))
    head, (row,) = shows[0], shows[1:]
    assert "核实成交额" in head
    figures = dict(zip(head, row, strict=True))
    raw = next(v for k, v in figures.items() if "原始" in k)
    assert float(raw) == RAW / 100
    assert int(float(row[0])) == w.session_id
    english = await client.get(f"/integrity/shows.{fmt}", headers={**sup, "Accept-Language": "en"})
    assert "Verified GMV" in table(english)[0]
    assert (await client.get(f"/integrity/shows.{fmt}", headers=w.headers["host"])).status_code == 403


async def test_the_show_orders_page_and_the_ledger(app: FastAPI, client: httpx.AsyncClient) -> None:
    w, _ids = await flagged_show(app)
    html = (await client.get(f"/live/{w.session_id}/orders", headers=w.headers["organiser"])).text
    assert cell(html, "summary-raw") == format_yuan(RAW)
    assert cell(html, "summary-verified") == format_yuan(0)
    assert 'data-testid="integrity-report-link"' in html

    ledger = (await client.get(f"/live/{w.session_id}/ledger")).text
    async with app.state.ctx.uow(write=False) as uow:
        today = chain_day(datetime.now(UTC))
        heads = await list_heads(uow.session, first=today, last=today)
    assert heads, "raising the alerts wrote audit entries today"
    assert heads[-1].head_hash in ledger and 'href="/audit"' in ledger
    assert cell(ledger, "gmv-raw") == format_yuan(RAW)


async def test_gmv_by_session_and_by_host_match_the_show_figures(app: FastAPI) -> None:
    w, _ids = await flagged_show(app)
    async with app.state.ctx.uow(write=False) as uow:
        whole = await g.session_gmv(uow.session, w.session_id)
        by_session = await g.gmv_by_session(uow.session, [w.session_id, 999999])
        by_host = await g.gmv_by_host(uow.session, w.session_id)
    assert by_session[w.session_id] == whole and by_session[999999].raw_fen == 0
    assert sum(x.raw_fen for x in by_host.values()) == whole.raw_fen
    assert sum(x.verified_fen for x in by_host.values()) == whole.verified_fen
