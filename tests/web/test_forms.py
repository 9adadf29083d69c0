"""`web.forms.submit`, the one way a page runs an action for a form: what goes through is handed
back; a domain error rolls the unit of work back (a row written before it is gone, the objects
loaded before it stay usable) and lands on the form, on its field or as the form's message; the
errors a page leaves to the error page pass through. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel

from fieldcast.db.audit import AuditEntry, record_audit
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Conflict, Invalid, NotAllowed
from fieldcast.i18n import N_, gettext
from fieldcast.web.forms import ACCESS_ERRORS, Done, Form, submit

TOO_LONG = N_("Must be at most %(max_length)s characters.")
DECIDED = N_("This request has already been decided.")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TitleIn(BaseModel):
    title: str


def _write(uow: UnitOfWork, action: str) -> AuditEntry:
    return record_audit(uow, actor_id=None, action=action, target_type="test", target_id=1)


async def _actions(uow: UnitOfWork) -> list[str]:
    return list(await uow.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


async def _stored(app: FastAPI) -> list[str]:
    async with app.state.ctx.uow() as uow:
        return await _actions(uow)


async def test_what_goes_through_is_handed_back_and_committed_with_the_unit_of_work(app: FastAPI) -> None:
    form: Form[TitleIn] = Form(values={"title": "蓝莓"})

    async def act() -> int:
        _write(uow, "form.accepted")
        await uow.session.flush()
        return 42

    async with app.state.ctx.uow() as uow:
        done = await submit(uow, form, act)
    assert done == Done(42)
    assert (form.errors, form.message, form.error) == ({}, "", None)
    assert await _stored(app) == ["form.accepted"]


async def test_a_domain_error_rolls_back_the_write_and_puts_the_message_on_its_field(app: FastAPI) -> None:
    async with app.state.ctx.uow() as uow:
        _write(uow, "committed.before")
    form: Form[TitleIn] = Form(values={"title": "x" * 61})
    refusal = Invalid(TOO_LONG, field="title", max_length=60)

    async def act() -> None:
        _write(uow, "form.refused")
        await uow.session.flush()
        assert await _actions(uow) == ["committed.before", "form.refused"]  # really written
        raise refusal

    async with app.state.ctx.uow() as uow:
        before = (await uow.session.scalars(sa.select(AuditEntry))).one()
        done = await submit(uow, form, act)
        assert done is None
        assert await _actions(uow) == ["committed.before"]  # gone inside the same unit of work
        assert before.action == "committed.before"  # reloaded: the page can render it again
    assert form.errors == {"title": gettext(TOO_LONG, max_length=60)}
    assert form.message == "" and form.error is refusal
    assert form.values == {"title": "x" * 61}  # what was typed stays in the form
    assert await _stored(app) == ["committed.before"]


async def test_field_map_puts_the_error_on_the_forms_own_field(app: FastAPI) -> None:
    form: Form[TitleIn] = Form()

    async def act() -> None:
        raise Invalid(TOO_LONG, field="sku_id", max_length=60)

    async with app.state.ctx.uow() as uow:
        assert await submit(uow, form, act, field_map={"sku_id": "shelf"}) is None
    assert form.errors == {"shelf": gettext(TOO_LONG, max_length=60)}


async def test_an_error_without_a_field_becomes_the_forms_message(app: FastAPI) -> None:
    form: Form[TitleIn] = Form()

    async def act() -> None:
        _write(uow, "form.refused")
        await uow.session.flush()
        raise Conflict(DECIDED)

    async with app.state.ctx.uow() as uow:
        assert await submit(uow, form, act) is None
    assert form.message == gettext(DECIDED) and form.errors == {}
    assert await _stored(app) == []


async def test_errors_left_to_the_error_page_pass_through_and_the_unit_of_work_drops_the_write(
    app: FastAPI,
) -> None:
    form: Form[TitleIn] = Form()

    async def act() -> None:
        _write(uow, "form.forbidden")
        await uow.session.flush()
        raise NotAllowed(N_("Not allowed"))

    with pytest.raises(NotAllowed):
        async with app.state.ctx.uow() as uow:
            await submit(uow, form, act, reraise=ACCESS_ERRORS)
    assert (form.errors, form.message, form.error) == ({}, "", None)
    assert await _stored(app) == []
