"""The integrity rules measured on played shows (issue #18, "Must show"): randomised honest shows
and shows carrying one abuse each (bot viewers, a per-cadre quota, a refund wave after the show,
re-staged orders, an official credited with a gift, a negative comment removed by the seller),
played by tests/scenarios/player.py against a real server, judged by the alerts its API returns.

Two parts, each held to the same bars: the tuning part (player.TUNING, edited while the player
and the rules are worked on) and the held-out part (heldout.json: written and committed before any
tuning, never edited since, its hash pinned below). Each part prints a table and a JSON line:
`.venv/bin/pytest tests/scenarios -q -s`.

A kind whose rules are not registered in fieldcast.integrity.rules.RULES yet is skipped, saying
which rule is missing; it plays by itself as soon as one of its rules is registered."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from fieldcast.app import create_app
from fieldcast.config import Settings, async_database_url
from fieldcast.db.migrate import upgrade
from tests.conftest import TEST_SECRET
from tests.media.conftest import serve
from tests.scenarios.player import (
    EXPECTED,
    HELDOUT_FILE,
    HONEST,
    KINDS,
    TUNING,
    Outcome,
    Part,
    Stage,
    heldout_part,
    missing_rules,
    play,
    set_stage,
)

pytestmark = pytest.mark.timeout(600)

# Its SHA-256 as committed (ce05ce2, before the player existed). A new held-out part is a new file.
HELDOUT_SHA256 = "eca371f7072a13738ac961f2a22a4b5e0c6a587a9499fe1b71e48da9d1a4dea6"
MIN_DETECTION = 0.95
MAX_FALSE_POSITIVES = 0.05
MIN_RUNS = 50  # randomised runs over both parts and all kinds


def parts() -> dict[str, Part]:
    return {"tuning": TUNING, "heldout": heldout_part()}


@pytest.fixture(scope="module")
def scenario_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A migrated SQLite database of its own for the module's server (the runs accumulate in it)."""
    data_dir = tmp_path_factory.mktemp("scenarios")
    url = async_database_url(f"sqlite:///{data_dir / 'scenarios.sqlite3'}")
    upgrade(url)
    return Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        redis_url="",
        upkeep=False,
        live_still_interval_s=0,
        # The sandbox's deliberate repeats and delays would only slow the runs down.
        payment_sandbox_duplicate_rate=0,
        payment_sandbox_late_rate=0,
    )


@pytest.fixture(scope="module")
async def stage(scenario_settings: Settings) -> AsyncIterator[Stage]:
    """One real server (uvicorn on a loopback port) for every run of the module."""
    app = create_app(scenario_settings)
    async with serve(app, scenario_settings) as served:
        yield await set_stage(served)


@pytest.fixture(scope="module")
def played() -> dict[tuple[str, str], list[Outcome]]:
    """The outcomes of each (part, kind) played so far (TIMES: the seconds each took)."""
    return {}


TIMES: dict[tuple[str, str], float] = {}


async def outcomes_of(
    stage: Stage, played: dict[tuple[str, str], list[Outcome]], part: Part, kind: str
) -> list[Outcome]:
    key = (part.name, kind)
    if key not in played:
        started = time.monotonic()
        played[key] = [await play(stage, part, kind, seed) for seed in part.seeds(kind)]
        TIMES[key] = time.monotonic() - started
    return played[key]


def describe(o: Outcome) -> str:
    return f"  {o.kind} {o.seed} (show {o.session_id}): raised {o.raised or 'nothing'}; params {o.params}"


def test_the_heldout_part_is_the_one_written_before_tuning() -> None:
    digest = hashlib.sha256(HELDOUT_FILE.read_bytes()).hexdigest()
    assert digest == HELDOUT_SHA256, "heldout.json was edited: a new held-out part is a new file"
    part = heldout_part()
    assert set(part.runs) == set(KINDS) and all(n > 0 for n in part.runs.values())
    assert part.ranges.keys() == TUNING.ranges.keys(), "both parts give every parameter"
    assert part.texts.keys() == TUNING.texts.keys()


def test_the_parts_play_enough_runs() -> None:
    assert set(TUNING.runs) == set(KINDS)
    assert sum(p.runs[k] for p in parts().values() for k in KINDS) >= MIN_RUNS
    assert all(p.runs[HONEST] >= max(p.runs.values()) for p in parts().values())  # honest shows: the most


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("part_name", ["tuning", "heldout"])
async def test_each_kind(stage: Stage, played: dict[tuple[str, str], list[Outcome]], part_name: str, kind: str) -> None:
    """Every abuse of the kind is flagged, with evidence, by one of its rules; honest shows raise
    nothing (at the end of the show and after the week of refunds)."""
    missing = missing_rules(kind)
    if missing:
        pytest.skip(f"{kind}: rule id(s) {', '.join(missing)} not registered in fieldcast.integrity.rules.RULES")
    outcomes = await outcomes_of(stage, played, parts()[part_name], kind)
    assert outcomes
    if kind == HONEST:
        wrong = [o for o in outcomes if o.false_positive]
        rate = len(wrong) / len(outcomes)
        assert rate <= MAX_FALSE_POSITIVES, f"false positives {rate:.3f}:\n" + "\n".join(map(describe, wrong))
    else:
        missed = [o for o in outcomes if not o.detected]
        rate = 1 - len(missed) / len(outcomes)
        assert rate >= MIN_DETECTION, f"{kind} detected {rate:.3f}, missed:\n" + "\n".join(map(describe, missed))
        for o in outcomes:
            for alert in o.alerts:
                if alert["rule"] in EXPECTED[kind]:
                    assert alert["session_id"] == o.session_id and alert["evidence"], alert


@pytest.mark.parametrize("part_name", ["tuning", "heldout"])
async def test_rates(stage: Stage, played: dict[tuple[str, str], list[Outcome]], part_name: str) -> None:
    """The part's table and JSON line; its detection and false-positive rates over all kinds
    whose rules are registered."""
    part = parts()[part_name]
    rows: list[tuple[str, list[Outcome]]] = []
    skipped: dict[str, list[str]] = {}
    for kind in KINDS:
        missing = missing_rules(kind)
        if missing:
            skipped[kind] = list(missing)
            continue
        outcomes = await outcomes_of(stage, played, part, kind)
        assert len(outcomes) == part.runs[kind]
        rows.append((kind, outcomes))
    honest = next(o for k, o in rows if k == HONEST)
    abuses = [o for k, outs in rows if k != HONEST for o in outs]
    detected = sum(o.detected for o in abuses)
    false_positives = sum(o.false_positive for o in honest)
    detection = detected / len(abuses) if abuses else 1.0
    fp_rate = false_positives / len(honest)
    seconds = sum(TIMES.get((part.name, k), 0.0) for k in KINDS)

    lines = [f"\nintegrity scenarios, {part.name} part", f"{'kind':<20}{'runs':>6}{'detected':>10}{'rate':>8}"]
    summary: dict[str, object] = {"part": part.name, "kinds": {}}
    kinds: dict[str, object] = {}
    for kind, outcomes in rows:
        if kind == HONEST:
            continue
        hits = sum(o.detected for o in outcomes)
        lines.append(f"{kind:<20}{len(outcomes):>6}{hits:>10}{hits / len(outcomes):>8.3f}")
        kinds[kind] = {"runs": len(outcomes), "detected": hits, "rate": round(hits / len(outcomes), 4)}
    for kind, absent in skipped.items():
        lines.append(f"{kind:<20}  skipped: {', '.join(absent)} not registered")
    lines.append(f"{'all abuses':<20}{len(abuses):>6}{detected:>10}{detection:>8.3f}")
    lines.append(f"{'honest':<20}{len(honest):>6}{'fp ' + str(false_positives):>10}{fp_rate:>8.3f}")
    lines.append(f"{len(honest) + len(abuses)} runs in {seconds:.1f} s")
    summary.update(
        kinds=kinds,
        skipped=skipped,
        abuse_runs=len(abuses),
        detected=detected,
        detection_rate=round(detection, 4),
        honest_runs=len(honest),
        false_positives=false_positives,
        false_positive_rate=round(fp_rate, 4),
        seconds=round(seconds, 1),
    )
    print("\n".join(lines))
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))

    wrong = [o for o in honest if o.false_positive] + [o for o in abuses if not o.detected]
    assert detection >= MIN_DETECTION, "\n".join(map(describe, wrong))
    assert fp_rate <= MAX_FALSE_POSITIVES, "\n".join(map(describe, wrong))


def test_rule_ids_are_read_from_the_registry() -> None:
    """The skip above is driven by the registry: the rules in this checkout are seen, an id that
    no rule raises is not."""
    from tests.scenarios.player import registered_rule_ids

    ids = registered_rule_ids()
    assert {"round_quota", "refunds_after_show", "member_of_selling_organisation"} <= ids
    assert "no_such_rule" not in ids
    assert missing_rules(HONEST) == ()
    assert missing_rules("quota") == ()
    assert missing_rules("bots", frozenset()) == EXPECTED["bots"]
    assert missing_rules("bots", frozenset({"join_burst"})) == ()
