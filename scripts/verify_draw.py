#!/usr/bin/env python3
"""Check a Fieldcast lucky draw: the seed matches the hash published when the draw opened, and the
published winners are exactly the ones the seed picks from the published entrant list.

    python scripts/verify_draw.py --url https://example.org/api/v1/draws/42
    python scripts/verify_draw.py --url https://example.org/api/v1/draws/42 --save draw42.json
    python scripts/verify_draw.py --file draw42.json

A file holds {"draw": <GET /api/v1/draws/ID>, "entrants": <GET /api/v1/draws/ID/entrants>}.
Needs only the Python standard library: it uses fieldcast.draws.verify when Fieldcast is
installed, else loads that one file from this repository by path. Prints OK or MISMATCH and exits
0 or 1 (2 when the draw cannot be fetched or read).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urljoin

VERIFY_PY = Path(__file__).resolve().parent.parent / "src" / "fieldcast" / "draws" / "verify.py"
TIMEOUT_S = 30


def load_verify() -> ModuleType:
    """The one implementation of the algorithm, so the script and the server cannot drift."""
    try:
        from fieldcast.draws import verify
    except ImportError:
        spec = importlib.util.spec_from_file_location("fieldcast_draw_verify", VERIFY_PY)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot find {VERIFY_PY}") from None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return verify


def fetch_json(url: str) -> Any:
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - scheme checked above
        return json.load(response)


def fetch(url: str) -> dict[str, Any]:
    draw = fetch_json(url)
    entrants_url = urljoin(url, draw.get("entrants_url") or f"{url.rstrip('/')}/entrants")
    return {"draw": draw, "entrants": fetch_json(entrants_url)}


def entrant_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    entrants = document["entrants"]
    rows: list[dict[str, Any]] = entrants["entrants"] if isinstance(entrants, dict) else entrants
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the draw's API address, e.g. http://host/api/v1/draws/42")
    source.add_argument("--file", type=Path, help='a JSON file {"draw": ..., "entrants": ...}')
    parser.add_argument("--save", type=Path, help="also write what was fetched to this file")
    args = parser.parse_args(argv)

    try:
        document = fetch(args.url) if args.url else json.loads(args.file.read_text(encoding="utf-8"))
        draw, entrants = document["draw"], entrant_rows(document)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"ERROR: cannot read the draw: {exc}", file=sys.stderr)
        return 2
    if args.save:
        args.save.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")

    if not draw.get("seed"):
        print(f"NOT VERIFIABLE YET: draw {draw.get('id')} is {draw.get('state')!r}; its seed is published once drawn")
        return 1
    verify = load_verify()
    problems: list[str] = verify.check_published(draw, entrants)
    print(f"draw {draw.get('id')}: {draw.get('prize_title', '')} ({draw.get('state')})")
    print(f"seed_hash {draw.get('seed_hash')}")
    print(f"seed      {draw.get('seed')}")
    print(f"entrants  {len(entrants)}; winners asked {draw.get('winners_count')}")
    if problems:
        for problem in problems:
            print(f"  - {problem}")
        print("MISMATCH")
        return 1
    winners = verify.pick_winners(
        bytes.fromhex(draw["seed"]), int(draw["id"]), [int(e["user_id"]) for e in entrants], int(draw["winners_count"])
    )
    labels = {int(e["user_id"]): e.get("label", "") for e in entrants}
    heading = "winners" if draw.get("state") == "drawn" else "would-be winners (the draw was cancelled)"
    print(heading + ":")
    for rank, user_id in enumerate(winners, start=1):
        print(f"  {rank}. user {user_id} {labels.get(user_id, '')}")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
