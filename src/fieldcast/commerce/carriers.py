"""The express carriers a supplier may ship with, and the shape of each one's tracking numbers.

The list is shipped with the code (a carrier is added here, with its pattern and an example that
the tests check against it). Patterns are deliberately a little loose: they catch typos, a number
pasted into the wrong carrier and stray characters, not every number a carrier could print.

| code   | carrier            | tracking number                                         |
|--------|--------------------|---------------------------------------------------------|
| SF     | 顺丰速运            | SF + 12-13 digits (SF1234567890123)                      |
| JD     | 京东物流            | JD + 13-15 digits or letters (JDV001234567890)           |
| EMS    | 中国邮政 EMS        | 13 digits, or 2 letters + 9 digits + CN (EA123456789CN)  |
| ZTO    | 中通快递            | 12-15 digits (7 5 6 ...)                                 |
| YTO    | 圆通速递            | YT + 13-15 digits                                        |
| STO    | 申通快递            | 12-15 digits                                             |
| YUNDA  | 韵达快递            | 13-15 digits                                             |
| JT     | 极兔速递 (J&T)      | JT + 13 digits                                           |
| DEPPON | 德邦快递            | DPK + 12 digits, or 8-10 digits                          |
| BEST   | 百世快递            | 12-15 digits                                             |
| YZPY   | 中国邮政快递包裹    | 13 digits, or 2 letters + 9 digits + 2 letters           |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fieldcast.commerce.models import TRACKING_NO_MAX


@dataclass(frozen=True)
class Carrier:
    code: str
    name_zh: str
    name_en: str
    pattern: re.Pattern[str]
    example: str

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") else self.name_en

    def accepts(self, tracking_no: str) -> bool:
        return len(tracking_no) <= TRACKING_NO_MAX and self.pattern.fullmatch(tracking_no) is not None


def _carrier(code: str, name_zh: str, name_en: str, pattern: str, example: str) -> Carrier:
    return Carrier(code, name_zh, name_en, re.compile(pattern), example)


CARRIERS: dict[str, Carrier] = {
    c.code: c
    for c in (
        _carrier("SF", "顺丰速运", "SF Express", r"SF\d{12,13}", "SF1234567890123"),
        _carrier("JD", "京东物流", "JD Logistics", r"JD[0-9A-Z]{13,15}", "JDV001234567890"),
        _carrier("EMS", "中国邮政 EMS", "China Post EMS", r"\d{13}|[A-Z]{2}\d{9}CN", "EA123456789CN"),
        _carrier("ZTO", "中通快递", "ZTO Express", r"\d{12,15}", "75312345678901"),
        _carrier("YTO", "圆通速递", "YTO Express", r"YT\d{13,15}", "YT1234567890123"),
        _carrier("STO", "申通快递", "STO Express", r"\d{12,15}", "773123456789012"),
        _carrier("YUNDA", "韵达快递", "Yunda Express", r"\d{13,15}", "4312345678901"),
        _carrier("JT", "极兔速递", "J&T Express", r"JT\d{13}", "JT1234567890123"),
        _carrier("DEPPON", "德邦快递", "Deppon Express", r"DPK\d{12}|\d{8,10}", "DPK123456789012"),
        _carrier("BEST", "百世快递", "Best Express", r"\d{12,15}", "557012345678"),
        _carrier("YZPY", "中国邮政快递包裹", "China Post Parcel", r"\d{13}|[A-Z]{2}\d{9}[A-Z]{2}", "9812345678901"),
    )
}

# What people type or paste for a carrier, beside its code: names in either language, "J&T".
_ALIASES = {alias.casefold(): c.code for c in CARRIERS.values() for alias in (c.code, c.name_zh, c.name_en)} | {
    "j&t": "JT",
    "顺丰": "SF",
    "京东": "JD",
    "中通": "ZTO",
    "圆通": "YTO",
    "申通": "STO",
    "韵达": "YUNDA",
    "极兔": "JT",
    "德邦": "DEPPON",
    "百世": "BEST",
    "邮政": "YZPY",
}


def find_carrier(text: str) -> Carrier | None:
    """The carrier a code or a name stands for (case and surrounding spaces ignored)."""
    code = _ALIASES.get(text.strip().casefold())
    return CARRIERS[code] if code else None


def normalise_tracking_no(text: str) -> str:
    """Upper case, no spaces or dashes: how numbers are written on labels and pasted from them."""
    return re.sub(r"[\s\-]", "", text).upper()
