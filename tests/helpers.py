"""Small helpers shared by tests: accounts and admins made through the real API and actions."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from fieldcast.accounts import actions
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.accounts.security import id_number_with_check_digit

PASSWORD = "correct horse battery"


async def sign_up(client: httpx.AsyncClient, email: str, name: str = "Tester") -> dict[str, Any]:
    """Sign up through the API (the client keeps the session cookie) and fetch a CSRF token."""
    r = await client.post("/api/v1/auth/signup", json={"email": email, "display_name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    csrf = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    user: dict[str, Any] = r.json()
    return user


async def make_admin(app: FastAPI, client: httpx.AsyncClient, email: str = "admin@example.com") -> dict[str, Any]:
    """A platform administrator, created as the CLI does it, then signed in on `client`."""
    async with app.state.ctx.uow() as uow:
        await actions.sign_up(
            uow, SignUpIn(email=email, display_name="Admin", password=PASSWORD), is_platform_admin=True
        )
    r = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    admin: dict[str, Any] = r.json()
    return admin


def id_number(serial: int = 1) -> str:
    """A checksum-valid, made-up resident ID number (region 110101, born 1980-01-01)."""
    return id_number_with_check_digit(f"11010119800101{serial:03d}")


def verification_body(serial: int = 1, host_kind: str = "first_secretary") -> dict[str, str]:
    return {
        "legal_name": "测试人",
        "id_number": id_number(serial),
        "host_kind": host_kind,
        "position_title": "驻村第一书记",
        "jurisdiction": "吉林省靖宇县",
        "evidence_note": "县委组织部任命文件，单位电话可查。",
    }


async def room_frames(app: FastAPI, room_id: int, after_id: int = 0) -> list[bytes]:
    """The room's event frames once everything committed so far has left the outbox (the relay
    delivers them moments after each commit; here, at once)."""
    await app.state.ctx.relay.drain()
    frames: list[bytes] = await app.state.ctx.room_log.since(room_id, after_id)
    return frames


async def room_last_id(app: FastAPI, room_id: int) -> int:
    """The room's last event id once the outbox is delivered (see room_frames)."""
    await app.state.ctx.relay.drain()
    last: int = await app.state.ctx.room_log.last_id(room_id)
    return last
