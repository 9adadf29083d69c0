"""Advertising-Law claim checker: finds absolute terms, officials used as endorsement, medical and
health-efficacy claims and comparison with medicine in any text (titles, descriptions, host chat,
coupon and draw texts) and says what to write instead.

Two layers of versioned data, reviewed like code (docs/claims.md); this module only matches them:
- data/claims_lexicon.json, the listed words. Chinese terms match on jieba word boundaries, so 第一
  fires in 全县第一 but not in 第一书记; English terms match whole words, case-insensitively.
- data/claims_rules.json, structured rules: a disease or symptom (data/claims_diseases.json) with
  an outcome or treatment word near it in the same clause, a function word with its target, a
  title or state organ with an endorsement word, comparison with medicine or doctors, absolute and
  price-superlative variants. Their regexes are compiled once, at import.
A hit in the negative (不能治病, "does not treat any illness") is not a claim."""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LEXICON_VERSION",
    "RULES_VERSION",
    "TEXT_MAX_CHARS",
    "ClaimHit",
    "Lexicon",
    "Rule",
    "build_lexicon",
    "build_rules",
    "check_claims",
    "check_fields",
    "hits_for_log",
    "lexicon",
    "warm_up",
]

TEXT_MAX_CHARS: Final = 20_000
"""The most a caller may send over HTTP. `check_claims` itself takes any length."""

Rule = Literal["absolute_term", "state_endorsement", "medical_claim", "health_food_efficacy", "medicine_comparison"]
MatchMode = Literal["token", "prefix", "word"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Latin words end where letters and digits end; CJK characters count as a boundary (销量NO.1).
_WORD_BEFORE = r"(?<![A-Za-z0-9])"
_WORD_AFTER = r"(?![A-Za-z0-9])"


@dataclass(frozen=True, slots=True)
class ClaimHit:
    """One claim: `text[start:end] == term` (Python str offsets into the text as given)."""

    start: int
    end: int
    term: str
    rule: Rule
    article: str
    suggestion: str


# == The lexicon file =============================================================================


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(_Strict):
    article: str = Field(min_length=1)
    article_en: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    article_live: str = ""
    exempt_categories: frozenset[str] = frozenset()


class TermSpec(_Strict):
    term: str = Field(min_length=1)
    rule: Rule
    lang: Literal["zh", "en"]
    suggestion: str = Field(min_length=1)
    pattern: str | None = None
    match: MatchMode | None = None
    note: str | None = None


class AllowSpec(_Strict):
    phrase: str = Field(min_length=1)
    why: str = Field(min_length=1)
    pattern: str | None = None
    match: MatchMode | None = None


class LexiconFile(_Strict):
    version: str = Field(min_length=1)
    about: str = ""
    rules: dict[Rule, RuleSpec]
    terms: list[TermSpec] = Field(min_length=1)
    allow: list[AllowSpec] = []


@dataclass(frozen=True, slots=True)
class Matcher:
    regex: re.Pattern[str]
    mode: MatchMode


@dataclass(frozen=True, slots=True)
class Term:
    spec: TermSpec
    matcher: Matcher
    article: str
    exempt_categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class Lexicon:
    version: str
    rules: Mapping[Rule, RuleSpec]
    terms: tuple[Term, ...]
    allow: tuple[Matcher, ...]


def _literal_source(text: str, mode: MatchMode) -> str:
    if mode != "word":
        return re.escape(text)
    # In English a space stands for any run of spaces or hyphens, a hyphen for an optional one:
    # "anti-cancer" also finds "anticancer" and "anti cancer".
    out = []
    for char in text:
        out.append(r"[\s\-]+" if char == " " else r"[\s\-]?" if char == "-" else re.escape(char))
    return "".join(out)


def _matcher(text: str, pattern: str | None, mode: MatchMode | None, where: str) -> Matcher:
    source = pattern or text
    resolved: MatchMode = mode or ("token" if _CJK.search(source) else "word")
    if resolved != "word" and not _CJK.search(source):
        raise ValueError(f"{where}: match {resolved!r} needs Chinese text; use 'word'")
    body = pattern if pattern is not None else _literal_source(text, resolved)
    if resolved == "word":
        regex = re.compile(f"{_WORD_BEFORE}(?:{body}){_WORD_AFTER}", re.IGNORECASE)
    else:
        regex = re.compile(body)
    if regex.fullmatch("") is not None:
        raise ValueError(f"{where}: the pattern matches empty text")
    return Matcher(regex=regex, mode=resolved)


def build_lexicon(raw: Mapping[str, Any]) -> Lexicon:
    """Validate a lexicon document and compile its matchers (ValueError on any mistake)."""
    spec = LexiconFile.model_validate(raw)
    terms: list[Term] = []
    for index, term in enumerate(spec.terms):
        rule = spec.rules.get(term.rule)
        if rule is None:
            raise ValueError(f"terms[{index}] {term.term!r}: rule {term.rule!r} is not defined in 'rules'")
        terms.append(
            Term(
                spec=term,
                matcher=_matcher(term.term, term.pattern, term.match, f"terms[{index}] {term.term!r}"),
                article=rule.article,
                exempt_categories=rule.exempt_categories,
            )
        )
    allow = tuple(_matcher(a.phrase, a.pattern, a.match, f"allow[{i}] {a.phrase!r}") for i, a in enumerate(spec.allow))
    return Lexicon(version=spec.version, rules=dict(spec.rules), terms=tuple(terms), allow=allow)


@cache
def lexicon() -> Lexicon:
    """The packaged lexicon, read and compiled once per process."""
    raw = (files("fieldcast.catalog") / "data" / "claims_lexicon.json").read_text("utf-8")
    return build_lexicon(json.loads(raw))


LEXICON_VERSION: Final[str] = lexicon().version


# == Structured rules =============================================================================

# Inside one clause: a window never crosses sentence or clause punctuation (folded: ，→, ！→! …).
_CLAUSE_CHARS = r"[^。，,！!？?；;：:\n]"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\d+))?\}")


class PatternSpec(_Strict):
    name: str = Field(min_length=1)
    rule: Rule
    lang: Literal["zh", "en"]
    pattern: str = Field(min_length=1)
    suggestion: str = Field(min_length=1)
    article: str | None = None


class NegationSpec(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RulesFile(_Strict):
    version: str = Field(min_length=1)
    about: str = ""
    vocab: dict[str, list[str]]
    patterns: list[PatternSpec] = Field(min_length=1)
    negation: NegationSpec


class DiseasesFile(_Strict):
    version: str = Field(min_length=1)
    about: str = ""
    source: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Pattern:
    spec: PatternSpec
    regex: re.Pattern[str]
    article: str
    exempt_categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class Rules:
    version: str
    patterns: tuple[Pattern, ...]
    negation_zh: re.Pattern[str]
    negation_en: re.Pattern[str]


def _alternation(words: list[str], regex_items: bool) -> str:
    """Longest first, so that 高血压 wins over 血压 and the span covers the whole word."""
    items = sorted(set(words), key=lambda w: (-len(w), w))
    return "|".join(w if regex_items else re.escape(w).replace(r"\ ", r"\s+") for w in items)


def build_rules(raw: Mapping[str, Any], diseases: Mapping[str, Any], lex: Lexicon) -> Rules:
    """Validate the structured rules and the disease dictionary and compile every pattern once
    (ValueError on any mistake: an unknown vocabulary name or rule, a pattern matching empty text)."""
    spec = RulesFile.model_validate(raw)
    dis = DiseasesFile.model_validate(diseases)
    vocab = {name: _alternation(items, regex_items=True) for name, items in spec.vocab.items()}
    # A disease word right before 药/片/冲剂 names a medicine (感冒药): that is for the comparison rules.
    vocab["disease_zh"] = "(?:" + _alternation(dis.zh, regex_items=False) + ")(?!药|片|冲剂|胶囊|灵)"
    vocab["disease_en"] = "(?:" + _alternation(dis.en, regex_items=False) + ")"

    def expand(where: str, found: re.Match[str]) -> str:
        name, gap = found.group(1), found.group(2)
        if name == "gap" and gap is not None:
            return f"{_CLAUSE_CHARS}{{0,{int(gap)}}}?"
        if name not in vocab:
            raise ValueError(f"{where}: no vocabulary named {name!r}")
        return f"(?:{vocab[name]})"

    patterns: list[Pattern] = []
    for index, p in enumerate(spec.patterns):
        where = f"patterns[{index}] {p.name!r}"
        rule = lex.rules.get(p.rule)
        if rule is None:
            raise ValueError(f"{where}: rule {p.rule!r} is not defined in the lexicon's 'rules'")
        body = _PLACEHOLDER.sub(lambda m, w=where: expand(w, m), p.pattern)  # type: ignore[misc]
        if p.lang == "en":
            regex = re.compile(f"{_WORD_BEFORE}(?:{body}){_WORD_AFTER}", re.IGNORECASE)
        else:
            regex = re.compile(body)
        if regex.fullmatch("") is not None:
            raise ValueError(f"{where}: the pattern matches empty text")
        patterns.append(
            Pattern(spec=p, regex=regex, article=p.article or rule.article, exempt_categories=rule.exempt_categories)
        )
    return Rules(
        version=spec.version,
        patterns=tuple(patterns),
        negation_zh=re.compile(f"(?:{spec.negation.zh})"),
        negation_en=re.compile(f"(?:{spec.negation.en})", re.IGNORECASE),
    )


def _data(name: str) -> Any:
    return json.loads((files("fieldcast.catalog") / "data" / name).read_text("utf-8"))


@cache
def rules() -> Rules:
    """The packaged structured rules, read and compiled once per process."""
    return build_rules(_data("claims_rules.json"), _data("claims_diseases.json"), lexicon())


RULES_VERSION: Final[str] = rules().version
# The clause a hit stands in starts after the last of these (for the negation look-behind).
_CLAUSE_START = re.compile(r".*[。，,！!？?；;：:\n]", re.DOTALL)
_NEGATION_LOOKBACK = 40


def _negated(text: str, start: int, rules_: Rules) -> bool:
    """Whether the clause before `start` ends in a negation (不能治病, "does not treat")."""
    before = text[max(0, start - _NEGATION_LOOKBACK) : start]
    if (clause := _CLAUSE_START.match(before)) is not None:
        before = before[clause.end() :]
    if not before:
        return False
    regex = rules_.negation_zh if _CJK.match(text[start]) else rules_.negation_en
    return regex.search(before) is not None


# == Segmentation =================================================================================

_jieba_lock = threading.Lock()


@cache
def _load_tokenizer() -> Any:
    import jieba  # type: ignore[import-untyped]  # imported late: English-only texts never need it

    jieba.setLogLevel(logging.WARNING)  # silences "Building prefix dict..." on stderr
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def warm_up() -> None:
    """Load the segmentation dictionary now (call at start-up) rather than in the first request."""
    _tokenizer()


def _tokenizer() -> Any:
    """A private jieba tokenizer on the default dictionary, built on first use (about 1 s, 60 MB).

    Private so that words another module adds to jieba's global dictionary cannot change what
    the checker finds; the lock makes two first requests share one load instead of doing two."""
    with _jieba_lock:
        return _load_tokenizer()


@dataclass(frozen=True, slots=True)
class _Segmentation:
    boundaries: frozenset[int]
    token_end: tuple[int, ...]  # for each character, where its token ends

    def word_from(self, text: str, end: int) -> int | None:
        """Where the word a prefix term opens ends: the rest of the token the term ends in, or the
        next token when the term is a whole token (最 + 好吃). None when no Chinese word follows."""
        token_end = self.token_end[end - 1]
        if token_end != end:
            return token_end
        if end < len(text):
            following = self.token_end[end]
            if all(_CJK.match(c) for c in text[end:following]):
                return following
        return None


def _segment(text: str) -> _Segmentation:
    # No HMM: only dictionary words, so an unknown pair such as 最香 still splits into 最 / 香.
    token_end = [0] * len(text)
    boundaries = {0, len(text)}
    for _word, start, end in _tokenizer().tokenize(text, HMM=False):
        boundaries.add(start)
        token_end[start:end] = [end] * (end - start)
    return _Segmentation(boundaries=frozenset(boundaries), token_end=tuple(token_end))


def _fold(text: str) -> str:
    """Full-width forms to ASCII (ＮＯ．１ → NO.1, １００％ → 100%) without moving any offset."""
    if text.isascii():
        return text
    return "".join(folded if len(folded := unicodedata.normalize("NFKC", char)) == 1 else char for char in text)


def _spans(matcher: Matcher, text: str, seg: _Segmentation | None) -> Iterator[tuple[int, int]]:
    if matcher.mode != "word" and seg is None:
        return
    pos = 0
    # Tried at every position, not just after the last match: an occurrence that does not sit on
    # word boundaries must not hide an overlapping one that does.
    while (found := matcher.regex.search(text, pos)) is not None:
        start, end = found.span()
        pos = start + 1
        if seg is None or matcher.mode == "word":
            yield start, end
        elif start not in seg.boundaries:
            continue
        elif matcher.mode == "token":
            if end in seg.boundaries:
                yield start, end
        elif (word_end := seg.word_from(text, end)) is not None:
            yield start, word_end


class _Allowed:
    """Allow-list spans. A hit is dropped when it overlaps one, unless it strictly contains it
    (then it is a longer claim of its own: 国家级贫困县 is allowed, 国家级 inside it is not a hit)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [s for s, _e in self.spans]
        self.longest = max((e - s for s, e in self.spans), default=0)

    def suppresses(self, start: int, end: int) -> bool:
        first = bisect.bisect_left(self.starts, start - self.longest)
        last = bisect.bisect_left(self.starts, end)
        for a_start, a_end in self.spans[first:last]:
            if a_start < end and start < a_end:
                contains = start <= a_start and a_end <= end and (end - start) > (a_end - a_start)
                if not contains:
                    return True
        return False


# == Checking =====================================================================================


def check_claims(text: str, *, category: str | None = None) -> list[ClaimHit]:
    """Every claim in `text` the Advertising Law forbids, in text order, without overlaps.

    `category` names the kind of goods when known; rules list the categories they do not apply
    to (disease claims are the business of medicine ads, so "medicine" and "medical_device" skip
    medical_claim). Where matches overlap the longest wins; on the same span the entry in the text's
    language (Chinese if it has any Chinese character), then the earlier entry in the file."""
    if not text:
        return []
    lex = lexicon()
    structured = rules()
    folded = _fold(text)
    chinese = _CJK.search(folded) is not None
    language = "zh" if chinese else "en"
    # Most lines match few entries: search each once and segment (the costly part) only when a
    # Chinese entry matched somewhere, since only those need word boundaries.
    matching = [(i, t) for i, t in enumerate(lex.terms) if t.matcher.regex.search(folded) is not None]
    allow = [m for m in lex.allow if m.regex.search(folded) is not None]
    needs_seg = chinese and any(m.mode != "word" for m in [*(t.matcher for _i, t in matching), *allow])
    seg = _segment(folded) if needs_seg else None
    allowed = _Allowed([span for m in allow for span in _spans(m, folded, seg)])

    # (start, end, language rank, order, rule, article, suggestion)
    candidates: list[tuple[int, int, int, int, Rule, str, str]] = []
    for index, term in matching:
        if category is not None and category in term.exempt_categories:
            continue
        for start, end in _spans(term.matcher, folded, seg):
            if not allowed.suppresses(start, end):
                rank = 0 if term.spec.lang == language else 1
                candidates.append((start, end, rank, index, term.spec.rule, term.article, term.spec.suggestion))
    order = len(lex.terms)
    for pattern in structured.patterns:
        order += 1
        if category is not None and category in pattern.exempt_categories:
            continue
        if pattern.spec.lang == "zh" and not chinese:
            continue
        for found in pattern.regex.finditer(folded):
            start, end = found.span()
            if not allowed.suppresses(start, end):
                rank = 0 if pattern.spec.lang == language else 1
                candidates.append(
                    (start, end, rank, order, pattern.spec.rule, pattern.article, pattern.spec.suggestion)
                )
    candidates.sort(key=lambda c: (c[0] - c[1], c[0], c[2], c[3]))

    taken = bytearray(len(text))
    hits: list[ClaimHit] = []
    for start, end, _rank, _order, rule, article, suggestion in candidates:
        if any(taken[start:end]):
            continue
        taken[start:end] = b"\x01" * (end - start)
        if _negated(folded, start, structured):
            continue
        hits.append(
            ClaimHit(start=start, end=end, term=text[start:end], rule=rule, article=article, suggestion=suggestion)
        )
    hits.sort(key=lambda h: h.start)
    return hits


def check_fields(fields: Mapping[str, str], *, category: str | None = None) -> dict[str, list[ClaimHit]]:
    """The hits in each of several published texts (a coupon's title, a draw's prize and terms),
    only for the fields that have any, in the order given."""
    found = {name: check_claims(value, category=category) for name, value in fields.items()}
    return {name: hits for name, hits in found.items() if hits}


def hits_for_log(hits_by_field: Mapping[str, list[ClaimHit]]) -> list[dict[str, object]]:
    """Hits as plain data for an audit entry: which field, where, what and under which rule."""
    return [
        {"field": name, "start": h.start, "end": h.end, "term": h.term, "rule": h.rule, "article": h.article}
        for name, hits in hits_by_field.items()
        for h in hits
    ]
