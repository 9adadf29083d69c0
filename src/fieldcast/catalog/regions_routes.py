"""Region codes over HTTP: browse and search China's divisions under /api/v1/regions.

The data only changes with a new release of the data file, so every answer is public, cacheable
for a day, and tagged with an ETag derived from the file's digest and the request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from fieldcast.catalog import regions as r
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.web.etag import etag_matches
from fieldcast.web.problems import Problem

CACHE_CONTROL = "public, max-age=86400"
RESPONSES: dict[int | str, dict[str, object]] = {
    304: {"description": "Not modified: the ETag sent in If-None-Match is still current."},
    **{code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (404, 422)},
}

router = APIRouter(prefix="/api/v1", tags=["regions"], responses=RESPONSES)

Code = Annotated[str, Path(pattern=r.CODE_PATTERN, description="6-digit division code, e.g. 370281")]


class RegionOut(BaseModel):
    code: str
    name: str
    level: r.Level
    parent_code: str | None
    full_name: str


class RegionListOut(BaseModel):
    items: list[RegionOut]


class RegionDetailOut(RegionOut):
    path: list[RegionOut]


def region_out(region: r.Region) -> RegionOut:
    return RegionOut(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        full_name=r.full_name(region.code),
    )


def region_or_404(code: str, field: str) -> r.Region:
    region = r.get_region(code)
    if region is None:
        raise NotFound(N_("There is no region with code %(code)s."), field=field, code=code)
    return region


def cached_json(request: Request, key: str, build: Callable[[], BaseModel]) -> Response:
    """200 with the body, or 304 when the client already holds this edition of it."""
    digest = hashlib.sha256(f"{r.table().digest}\n{key}".encode()).hexdigest()[:32]
    headers = {"ETag": f'"{digest}"', "Cache-Control": CACHE_CONTROL}
    if etag_matches(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(build().model_dump_json(), media_type="application/json", headers=headers)


@router.get("/regions", response_model=RegionListOut)
async def api_regions(
    request: Request,
    parent: Annotated[str | None, Query(pattern=r.CODE_PATTERN, description="omit for the provinces")] = None,
) -> Response:
    """The divisions directly under `parent`, or the provinces."""
    if parent is not None:
        region_or_404(parent, "parent")
    return cached_json(
        request,
        f"children:{parent or ''}",
        lambda: RegionListOut(items=[region_out(c) for c in r.children(parent)]),
    )


@router.get("/regions/search", response_model=RegionListOut)
async def api_search_regions(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=20, description="part of a name, e.g. 胶州")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> Response:
    """Divisions whose name contains `q`: exact names first, then prefixes, then higher levels."""
    return cached_json(
        request,
        f"search:{limit}:{q.strip()}",
        lambda: RegionListOut(items=[region_out(x) for x in r.search_regions(q, limit)]),
    )


@router.get("/regions/{code}", response_model=RegionDetailOut)
async def api_region(request: Request, code: Code) -> Response:
    """One division with its path from the province down."""
    region = region_or_404(code, "code")
    return cached_json(
        request,
        f"region:{code}",
        lambda: RegionDetailOut(**region_out(region).model_dump(), path=[region_out(p) for p in r.path(code)]),
    )
