"""What the web layer needs of the process's services, as a Protocol.

The composition root (fieldcast.bootstrap) builds the one context object and puts it on
`app.state.ctx`; each layer names only the part of it that it uses (this one: settings and units of
work), so nothing below the root depends on how the services were picked."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import HTTPConnection

from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork


class Services(Protocol):
    settings: Settings

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


def context_of(conn: HTTPConnection) -> Any:
    """The composition root's context of this app (typed by the caller's own Protocol)."""
    return conn.app.state.ctx


def services(conn: HTTPConnection) -> Services:
    ctx: Services = context_of(conn)
    return ctx
