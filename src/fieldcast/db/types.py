"""Column helpers shared by capabilities."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa


def str_enum(enum_cls: type[StrEnum]) -> sa.Enum:
    """A portable enum column: VARCHAR of the values, validated on write, same on both backends."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
