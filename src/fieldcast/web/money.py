"""Money on pages: integer fen in, yuan text out; yuan typed in forms, integer fen back."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fieldcast.i18n import N_
from fieldcast.inputs import BIGINT_MAX


class BadAmount(ValueError):
    message = N_("Enter an amount in yuan, e.g. 39.90.")


def format_yuan(fen: int | None) -> str:
    if fen is None:
        return ""
    yuan, cents = divmod(abs(fen), 100)
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{yuan:,}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """'39.9' -> 3990 fen. At most two decimals; no floats anywhere on the way."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "").replace("元", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise BadAmount(cleaned) from exc
    # Past what a bigint of fen holds, quantize would overflow the decimal context (and the column).
    if not amount.is_finite() or abs(amount) * 100 > BIGINT_MAX or amount != amount.quantize(Decimal("0.01")):
        raise BadAmount(cleaned)
    return int(amount * 100)
