"""Speed of the claim checker on chat lines: every sentence of both labelled splits (tests/data),
checked in rounds after one warm-up pass (which loads the segmentation dictionary).

Usage: .venv/bin/python bench/claims.py [--rounds 20]
Prints a table (mean, median, p99 and max per line, split by Chinese and English lines) and, as the
last line, one JSON object. Target (issue 17): a chat line well under 1 ms on average."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from fieldcast.catalog.claims import LEXICON_VERSION, RULES_VERSION, check_claims, warm_up

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _lines() -> list[str]:
    texts: list[str] = []
    for name in ("claims_labelled.jsonl", "claims_heldout.jsonl"):
        for line in (DATA / name).read_text("utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def _row(name: str, times_us: list[float]) -> dict[str, float | int | str]:
    ordered = sorted(times_us)
    return {
        "lines": name,
        "n": len(ordered),
        "mean_us": round(statistics.fmean(ordered), 1),
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_us": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    texts = _lines()
    warm_up()
    for text in texts:
        check_claims(text)
    per_line: dict[str, list[float]] = {"all": [], "zh": [], "en": []}
    clock = time.perf_counter_ns
    for _ in range(args.rounds):
        for text in texts:
            start = clock()
            check_claims(text)
            elapsed = (clock() - start) / 1000
            per_line["all"].append(elapsed)
            per_line["zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"].append(elapsed)
    rows = [_row(name, values) for name, values in per_line.items()]
    print(f"claim checker, lexicon {LEXICON_VERSION}, rules {RULES_VERSION}: {len(texts)} lines x {args.rounds} rounds")
    print(f"{'lines':<6}{'n':>8}{'mean µs':>10}{'median µs':>11}{'p99 µs':>9}{'max µs':>9}")
    for r in rows:
        print(f"{r['lines']:<6}{r['n']:>8}{r['mean_us']:>10}{r['median_us']:>11}{r['p99_us']:>9}{r['max_us']:>9}")
    overall = rows[0]
    print(
        json.dumps(
            {
                "bench": "claims",
                "lexicon": LEXICON_VERSION,
                "rules": RULES_VERSION,
                "lines": len(texts),
                "rounds": args.rounds,
                "mean_us": overall["mean_us"],
                "median_us": overall["median_us"],
                "p99_us": overall["p99_us"],
                "target_mean_us": 1000,
                "met": float(overall["mean_us"]) < 1000,
                "by_language": {r["lines"]: r["mean_us"] for r in rows[1:]},
            }
        )
    )


if __name__ == "__main__":
    main()
