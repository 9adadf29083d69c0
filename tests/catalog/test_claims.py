"""The Advertising-Law claim checker: precision and recall on a labelled set, word-boundary matching
(第一书记 is a job title, 全县第一 is a claim), offsets, the lexicon file and the HTTP contract."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldcast.catalog import claims
from fieldcast.catalog.claims import LEXICON_VERSION, ClaimHit, build_lexicon, check_claims, lexicon
from fieldcast.labels import LABELS

LABELLED = Path(__file__).resolve().parents[1] / "data" / "claims_labelled.jsonl"
LEXICON_FILE = Path(claims.__file__).parent / "data" / "claims_lexicon.json"
MIN_RECALL = 0.95
MIN_PRECISION = 0.90


def labelled_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LABELLED.read_text("utf-8").splitlines() if line.strip()]


def found(text: str, **kwargs: Any) -> list[tuple[str, str]]:
    return [(h.term, h.rule) for h in check_claims(text, **kwargs)]


# == The labelled set =============================================================================


def test_labelled_set_is_big_mixed_and_well_formed() -> None:
    rows = labelled_rows()
    rules = set(lexicon().rules)
    assert len(rows) >= 100
    for row in rows:
        assert set(row) == {"text", "lang", "violations"}, row
        assert row["lang"] in {"zh", "en"}
        for v in row["violations"]:
            assert set(v) == {"term", "rule"} and v["rule"] in rules, row
            assert v["term"] in row["text"], row
    clean = sum(1 for r in rows if not r["violations"])
    english = sum(1 for r in rows if r["lang"] == "en")
    assert 0.35 <= clean / len(rows) <= 0.65, f"{clean} clean of {len(rows)}"
    assert english / len(rows) >= 0.2, f"{english} English of {len(rows)}"
    texts = " ".join(r["text"] for r in rows if not r["violations"])
    for must_be_clean in ("第一书记", "第一次", "第一天", "国家级贫困县", "first secretary", "20,000", "两万元"):
        assert must_be_clean in texts, f"no clean example with {must_be_clean!r}"


def test_precision_and_recall_on_the_labelled_set() -> None:
    """A predicted hit is a true positive when a labelled violation of the same rule has the same term
    text (counted as multisets per sentence, so a term found twice must be labelled twice)."""
    tp = fp = fn = 0
    misses: list[str] = []
    for row in labelled_rows():
        gold = Counter((v["term"], v["rule"]) for v in row["violations"])
        predicted = Counter(found(row["text"]))
        agreed = sum((gold & predicted).values())
        tp += agreed
        fp += sum(predicted.values()) - agreed
        fn += sum(gold.values()) - agreed
        if gold != predicted:
            misses.append(
                f"  {row['text']}\n    labelled {sorted(gold.elements())}\n    found    {sorted(predicted.elements())}"
            )
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    summary = (
        f"claim checker (lexicon {LEXICON_VERSION}) on {len(labelled_rows())} sentences: "
        f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"
    )
    print("\n" + summary)
    details = summary + ("\n" + "\n".join(misses) if misses else "")
    assert recall >= MIN_RECALL, details
    assert precision >= MIN_PRECISION, details


# == Matching =====================================================================================


def test_job_titles_and_ordinals_are_not_rankings() -> None:
    assert found("我是大北山村的第一书记") == []
    assert found("驻村第一书记第一次直播，开播第一天") == []
    assert found("我们县曾是国家级贫困县") == []
    assert found("全县第一的蓝莓") == [("第一", "absolute_term")]
    assert found("第一书记说：全县第一的蓝莓") == [("第一", "absolute_term")]


def test_segmentation_decides_where_a_word_is() -> None:
    assert found("这是最好的大米") == [("最好", "absolute_term")]
    assert found("最甜的蓝莓，最受欢迎的粉条") == [("最甜", "absolute_term"), ("最受欢迎", "absolute_term")]
    assert found("最近很忙，最后一天，我最喜欢吃，最好在三天内吃完") == []
    assert found("这款大米能提高免疫力") == [("提高免疫力", "health_food_efficacy")]


def test_english_is_case_insensitive_and_whole_words() -> None:
    assert found("I am the First Secretary of the village.") == []
    assert found("the best rice") == [("best", "absolute_term")]
    assert found("THE BEST RICE") == [("BEST", "absolute_term")]
    assert found("Bestow a gift; best before May") == []
    assert found("An anticancer tea, an anti cancer tea") == [
        ("anticancer", "medical_claim"),
        ("anti cancer", "medical_claim"),
    ]
    assert found("a sweet treat") == []
    assert found("it treats insomnia") == [("treats insomnia", "medical_claim")]


def test_offsets_index_the_original_text() -> None:
    text = "  开场白：\n第一书记推荐：全县第一的蓝莓，the BEST rice，ＮＯ．１，100%纯天然，能降血压。"
    hits = check_claims(text)
    assert [h.term for h in hits] == ["第一", "BEST", "ＮＯ．１", "100%", "降血压"]
    for hit in hits:
        assert text[hit.start : hit.end] == hit.term
    assert [h.start for h in hits] == sorted(h.start for h in hits)


def test_overlapping_terms_give_one_hit_and_the_longest_wins() -> None:
    text = "史上最低价！全网最低价，最低价"
    hits = check_claims(text)
    assert [h.term for h in hits] == ["史上最低价", "全网最低价", "最低价"]
    covered = [i for h in hits for i in range(h.start, h.end)]
    assert len(covered) == len(set(covered)), "hits overlap"
    # Two entries (zh and en) match "100%": one hit, with the suggestion in the text's language.
    [zh_hit] = check_claims("100%纯天然")
    [en_hit] = check_claims("100% natural")
    assert (zh_hit.term, en_hit.term) == ("100%", "100%")
    assert "删除" in zh_hit.suggestion and en_hit.suggestion.startswith("Drop")


def test_allow_list_wins_only_inside_its_span() -> None:
    assert found("100%棉") == []
    assert found("100% cotton, 100% natural") == [("100%", "absolute_term")]
    assert found("下单后第一时间发货") == []
    assert found("在县政府指定的检测中心检测合格") == []
    assert found("县政府认证的茶叶") == [("县政府认证", "state_endorsement")]


def test_officials_may_host_but_their_office_is_no_guarantee() -> None:
    assert found("今晚县长走进直播间，为家乡农产品带货") == []
    assert found("质量不达标，我赔你两万元") == []
    assert found("县长推荐的猕猴桃，政府指定产品") == [
        ("县长推荐", "state_endorsement"),
        ("政府指定", "state_endorsement"),
    ]
    assert found("Recommended by the county government.") == [
        ("Recommended by the county government", "state_endorsement")
    ]


def test_medicine_may_speak_of_treatment_but_food_may_not() -> None:
    assert found("本品用于治疗感冒", category="medicine") == []
    assert found("本品用于治疗感冒", category="processed_food") == [("治疗", "medical_claim")]
    assert found("本品用于治疗感冒") == [("治疗", "medical_claim")]
    assert found("最好的感冒药", category="medicine") == [("最好", "absolute_term")]


def test_hits_carry_article_and_suggestion_in_the_terms_language() -> None:
    [zh] = check_claims("最好的大米")
    [en] = check_claims("the best rice")
    assert zh == ClaimHit(
        start=0,
        end=2,
        term="最好",
        rule="absolute_term",
        article="《广告法》第九条第三项",
        suggestion=zh.suggestion,
    )
    assert en.article == "《广告法》第九条第三项"
    assert any("\u4e00" <= c <= "\u9fff" for c in zh.suggestion)
    assert not any("\u4e00" <= c <= "\u9fff" for c in en.suggestion)


def test_empty_and_clean_texts_have_no_hits() -> None:
    assert check_claims("") == []
    assert check_claims("   ") == []
    assert check_claims("Fresh blueberries, picked this morning.") == []


def test_longest_text_is_checked_in_one_pass() -> None:
    text = ("这是最好的大米，第一书记第一次直播。" * 1200)[:20_000]
    hits = check_claims(text)
    assert len(hits) == text.count("最好")
    assert all(text[h.start : h.end] == "最好" for h in hits)


# == The lexicon ==================================================================================


def test_lexicon_is_versioned_and_every_term_has_a_defined_rule() -> None:
    raw = json.loads(LEXICON_FILE.read_text("utf-8"))
    assert raw["version"] == LEXICON_VERSION == lexicon().version
    rules = set(raw["rules"])
    assert rules == {"absolute_term", "state_endorsement", "medical_claim", "health_food_efficacy"}
    for term in raw["terms"]:
        assert term["rule"] in rules, term
        assert term["suggestion"].strip(), term
        has_cjk = any("\u4e00" <= c <= "\u9fff" for c in term["suggestion"])
        assert has_cjk == (term["lang"] == "zh"), f"suggestion language differs from the term's: {term}"
    for rule in raw["rules"].values():
        assert rule["article"].startswith("《广告法》第")
    for allow in raw["allow"]:
        assert allow["why"].strip(), allow


def test_every_rule_has_a_translatable_label() -> None:
    assert set(LABELS["claim_rule"]) == set(lexicon().rules)


def test_a_lexicon_with_an_unknown_rule_or_an_empty_pattern_is_refused() -> None:
    raw = json.loads(LEXICON_FILE.read_text("utf-8"))
    del raw["rules"]["medical_claim"]
    with pytest.raises(ValueError, match="medical_claim"):
        build_lexicon(raw)
    raw = json.loads(LEXICON_FILE.read_text("utf-8"))
    raw["terms"].append({"term": "x", "rule": "absolute_term", "lang": "en", "suggestion": "s", "pattern": "a*"})
    with pytest.raises(ValueError, match="empty"):
        build_lexicon(raw)
    raw = json.loads(LEXICON_FILE.read_text("utf-8"))
    raw["terms"][0]["rule"] = "no_such_rule"
    with pytest.raises(ValueError, match="rule"):
        build_lexicon(raw)


# == HTTP =========================================================================================


async def test_endpoint_contract(client: httpx.AsyncClient) -> None:
    text = "全县第一的蓝莓，我是第一书记"
    r = await client.post("/api/v1/claims/check", json={"text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"hits"}
    [hit] = body["hits"]
    assert set(hit) == {"start", "end", "term", "rule", "article", "suggestion"}
    assert [type(hit[k]) for k in ("start", "end", "term", "rule", "article", "suggestion")] == [
        int,
        int,
        str,
        str,
        str,
        str,
    ]
    assert (hit["start"], hit["end"], hit["term"], hit["rule"]) == (2, 4, "第一", "absolute_term")
    assert text[hit["start"] : hit["end"]] == hit["term"]
    assert hit["article"] == "《广告法》第九条第三项"


async def test_endpoint_keeps_whitespace_so_offsets_hold(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/claims/check", json={"text": "  \tthe best rice"})
    assert r.json()["hits"][0]["start"] == 7


@pytest.mark.parametrize("text", ["", "新鲜蓝莓，今早现摘"])
async def test_endpoint_clean_or_empty_text(client: httpx.AsyncClient, text: str) -> None:
    r = await client.post("/api/v1/claims/check", json={"text": text})
    assert r.status_code == 200
    assert r.json() == {"hits": []}


async def test_endpoint_accepts_the_longest_text(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/claims/check", json={"text": "好" * 20_000})
    assert r.status_code == 200
    assert r.json() == {"hits": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "好" * 20_001}, "text"),
        ({}, "text"),
        ({"text": 5}, "text"),
        ({"text": "ok", "category": "medicine"}, "category"),
    ],
)
async def test_endpoint_refuses_bad_input_as_problem_json(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/v1/claims/check", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == field
