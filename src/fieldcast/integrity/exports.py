"""A table as a download: CSV (UTF-8 with a byte-order mark, so Excel as used in China opens it
with the Chinese intact) or XLSX (openpyxl). Money columns carry integer fen and are written in
yuan with two decimals; every other cell is written as it is."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    label: str
    money: bool = False


def _cell(column: Column, value: Any) -> Any:
    if column.money and isinstance(value, int):
        return Decimal(value) / 100
    return value


def to_csv(columns: list[Column], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in columns])
    for row in rows:
        cells = [_cell(c, v) for c, v in zip(columns, row, strict=True)]
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else "" if v is None else v for v in cells])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(columns: list[Column], rows: list[list[Any]], title: str) -> bytes:
    from openpyxl import Workbook  # only exports need it

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append([c.label for c in columns])
    for row in rows:
        cells = []
        for c, v in zip(columns, row, strict=True):
            value = _cell(c, v)
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, datetime):
                value = value.replace(tzinfo=None)
            cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def download(columns: list[Column], rows: list[list[Any]], fmt: str, name: str, title: str) -> Response:
    """The table as an attachment named `name`.<fmt>."""
    if fmt == "xlsx":
        body, media_type = to_xlsx(columns, rows, title), XLSX_TYPE
    else:
        body, media_type = to_csv(columns, rows), "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"},
    )
