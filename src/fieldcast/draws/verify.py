"""How a lucky draw picks its winners, as pure functions anyone can rerun.

This module imports nothing from Fieldcast (only the standard library) so that
`scripts/verify_draw.py` can load it by path on a machine without the project installed.

The algorithm (also in docs/draws.md):
1. When the draw opens the server makes a secret 32-byte seed and publishes sha256(seed) in hex.
2. When the host draws, the entrant list is frozen and published: user ids, ascending.
3. For rank r = 1, 2, ... up to the number of winners (or of entrants, if fewer):
   h = HMAC-SHA256(key=seed, message=f"{draw_id}:{r}" in UTF-8), read as a big-endian integer;
   the winner is the entrant at index h mod (entrants left) of the remaining ascending list,
   and is removed from it. (A 256-bit number modulo at most a few million entrants has a bias
   below 2^-230: negligible.)
4. The seed is published; anyone checks sha256(seed) against the hash published at the start and
   recomputes the winners from the published list.

Because the hash was public before any entry, the server could not pick a seed to suit the
entrants; because the list is published, it cannot leave anyone out unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

SEED_BYTES = 32


def seed_hash(seed: bytes) -> str:
    """The commitment published when a draw opens: sha256 of the seed, lowercase hex."""
    return hashlib.sha256(seed).hexdigest()


def pick_winners(seed: bytes, draw_id: int, entrant_ids: list[int], n: int) -> list[int]:
    """Winners in rank order (rank 1 first). At most `n`, never more than there are entrants.

    The entrants are taken in ascending id order whatever order they are given in; a repeated
    id is an error (each person enters once)."""
    pool = sorted(entrant_ids)
    if len(set(pool)) != len(pool):
        raise ValueError("an entrant id appears twice")
    winners: list[int] = []
    for rank in range(1, min(n, len(pool)) + 1):
        digest = hmac.new(seed, f"{draw_id}:{rank}".encode(), hashlib.sha256).digest()
        winners.append(pool.pop(int.from_bytes(digest, "big") % len(pool)))
    return winners


def check_published(draw: Mapping[str, Any], entrants: Sequence[Mapping[str, Any]]) -> list[str]:
    """Compare a published draw (GET /api/v1/draws/ID) with its published entrant list (the
    `entrants` array of GET /api/v1/draws/ID/entrants). Returns the problems; empty means OK.

    A drawn draw is checked in full. A draw cancelled after opening has its seed revealed too:
    its hash is checked (the would-be winners are `pick_winners` of the list)."""
    state = draw.get("state")
    if state not in ("drawn", "cancelled") or not draw.get("seed"):
        return [f"the draw is {state!r} and its seed is not public: there is nothing to verify yet"]
    try:
        seed = bytes.fromhex(str(draw["seed"]))
    except ValueError:
        return ["the published seed is not hex"]
    problems: list[str] = []
    if len(seed) != SEED_BYTES:
        problems.append(f"the seed has {len(seed)} bytes, expected {SEED_BYTES}")
    published_hash = str(draw.get("seed_hash") or "").lower()
    if seed_hash(seed) != published_hash:
        problems.append(f"sha256(seed) = {seed_hash(seed)} but the published seed_hash is {published_hash}")
    ids = [int(e["user_id"]) for e in entrants]
    if ids != sorted(ids):
        problems.append("the entrant list is not in ascending user id order")
    if draw.get("entrant_count") is not None and int(draw["entrant_count"]) != len(ids):
        problems.append(f"the draw counts {draw['entrant_count']} entrants but the list has {len(ids)}")
    try:
        expected = pick_winners(seed, int(draw["id"]), ids, int(draw["winners_count"]))
    except ValueError as exc:
        return [*problems, str(exc)]
    if state == "drawn":
        published = [int(w["user_id"]) for w in sorted(draw.get("winners") or [], key=lambda w: int(w["rank"]))]
        if published != expected:
            problems.append(f"published winners {published} differ from the recomputed winners {expected}")
    return problems
