"""China's administrative divisions (province → city → county) from the data file we ship.

Codes are 6-digit GB/T 2260 style codes. The file is built by scripts/build_regions.py and read
once per process; everything here is a pure lookup, so callers need no database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal, cast

Level = Literal["province", "city", "county"]
LEVELS: tuple[Level, ...] = ("province", "city", "county")
CODE_PATTERN = r"^\d{6}$"

# Placeholder levels some editions of the code table carry (市辖区 1101, 省直辖县级行政区划 4290...).
# They are not places, so a full name never includes them, whatever the data file holds.
PSEUDO_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: Level
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class RegionTable:
    """The loaded file: regions by code, children by parent code, and what identifies the edition."""

    by_code: dict[str, Region]
    children: dict[str | None, tuple[Region, ...]]
    snapshot: str
    digest: str


@cache
def table() -> RegionTable:
    raw = (files("fieldcast.catalog") / "data" / "regions.json").read_bytes()
    data = json.loads(raw)
    by_code: dict[str, Region] = {}
    children: dict[str | None, list[Region]] = {}
    for code, name, level, parent_code in data["regions"]:
        region = Region(code=code, name=name, level=cast(Level, level), parent_code=parent_code)
        by_code[code] = region
        children.setdefault(parent_code, []).append(region)
    return RegionTable(
        by_code=by_code,
        children={parent: tuple(sorted(kids, key=lambda r: r.code)) for parent, kids in children.items()},
        snapshot=str(data["snapshot"]),
        digest=hashlib.sha256(raw).hexdigest(),
    )


def get_region(code: str) -> Region | None:
    return table().by_code.get(code)


def is_valid_region(code: str) -> bool:
    return code in table().by_code


def children(code: str | None) -> list[Region]:
    """The regions directly under `code`, by code; None gives the provinces."""
    return list(table().children.get(code, ()))


def path(code: str) -> list[Region]:
    """From the province down to `code` itself; empty for an unknown code."""
    by_code = table().by_code
    chain: list[Region] = []
    region = by_code.get(code)
    while region is not None:
        chain.append(region)
        region = by_code.get(region.parent_code) if region.parent_code else None
    return chain[::-1]


def full_name(code: str) -> str:
    """The name as written on an address, e.g. "山东省青岛市胶州市" or "北京市朝阳区"."""
    return "".join(r.name for r in path(code) if r.name not in PSEUDO_NAMES)


def search_regions(query: str, limit: int = 20) -> list[Region]:
    """Regions whose name contains `query`: exact names first, then prefixes, then higher levels."""
    needle = query.strip()
    if not needle or limit < 1:
        return []
    hits = [r for r in table().by_code.values() if needle in r.name and r.name not in PSEUDO_NAMES]
    hits.sort(key=lambda r: (r.name != needle, not r.name.startswith(needle), LEVELS.index(r.level), r.code))
    return hits[:limit]


def descendant_codes(code: str) -> frozenset[str]:
    """`code` and every region under it, to filter by region (a province matches its counties).
    Empty for an unknown code."""
    if code not in table().by_code:
        return frozenset()
    return _descendants(code)


@cache
def _descendants(code: str) -> frozenset[str]:  # only called with known codes, so the cache is bounded
    return frozenset(_walk(code))


def _walk(code: str) -> Iterator[str]:
    yield code
    for child in table().children.get(code, ()):
        yield from _walk(child.code)
