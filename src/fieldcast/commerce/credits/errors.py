"""Credits' domain errors, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Invalid


class BadCredit(Invalid):
    code = "bad_credit"
