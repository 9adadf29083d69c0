"""The signed session cookie: its name, the keys kept in it, and a read-only reader.

The web layer writes it (Starlette's SessionMiddleware); room sockets, served by the app or by
`fieldcast fanout`, only read it to know who is watching. Both sit above this module."""

from __future__ import annotations

import json
import secrets
from base64 import b64decode, b64encode

import itsdangerous

SESSION_COOKIE = "fc_session"  # the signed session cookie (Starlette SessionMiddleware)
SESSION_USER = "uid"  # the signed-in user's id
SESSION_ID = "sid"  # the session's random id (sign-out revokes it on the server)
SESSION_EPOCH = "ep"  # the user's session epoch when signing in (sign-out-everywhere bumps it)
SESSION_CSRF = "csrf"  # the session's CSRF token
SESSION_VIEWER = "viewer"  # the anonymous viewer id (set by the room page, for unique viewers)


def new_viewer_id() -> str:
    """An anonymous viewer's id (SESSION_VIEWER): tells anonymous viewers apart in the counts."""
    return secrets.token_urlsafe(12)


class SessionCookie:
    """Reads the signed session cookie exactly as Starlette's SessionMiddleware writes it
    (itsdangerous timestamp signature over base64 JSON), read-only: for room sockets, which need
    only to know who is watching."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self.signer = itsdangerous.TimestampSigner(str(secret_key))
        self.max_age = max_age

    def read(self, raw: str | None) -> dict[str, object]:
        if not raw:
            return {}
        try:
            data = self.signer.unsign(raw.encode(), max_age=self.max_age)
            session = json.loads(b64decode(data))
        except (itsdangerous.BadSignature, ValueError):
            return {}
        return session if isinstance(session, dict) else {}

    def sign(self, session: dict[str, object]) -> bytes:
        """The cookie value for `session`, exactly as Starlette's SessionMiddleware writes it (the
        page cache sets the session of a page it serves without running that middleware)."""
        return self.signer.sign(b64encode(json.dumps(session).encode()))
