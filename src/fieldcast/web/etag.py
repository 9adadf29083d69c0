"""ETags on API reads: a hash of the exact JSON body; If-None-Match answers 304 with no body."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response


def _encode(payload: Any) -> bytes:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    elif isinstance(payload, list):
        payload = [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in payload]
    return orjson.dumps(payload)


def if_none_match_hits(header: str, tag: str) -> bool:
    """Whether an If-None-Match header names `tag` (weakly: W/"x" and "x" are the same) or *."""
    candidates = {c.strip() for c in header.split(",")}
    return "*" in candidates or tag in candidates or tag.removeprefix("W/") in candidates


def etag_matches(request: Request, tag: str) -> bool:
    return if_none_match_hits(request.headers.get("if-none-match", ""), tag)


def json_with_etag(request: Request, payload: Any, *, cache_control: str = "private, no-cache") -> Response:
    body = _encode(payload)
    tag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": cache_control, "Vary": "Authorization, Cookie"}
    if etag_matches(request, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
