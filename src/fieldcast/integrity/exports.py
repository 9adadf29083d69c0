"""Tables as a download: CSV (UTF-8 with a byte-order mark, so Excel as used in China opens it
with the Chinese intact) or XLSX (openpyxl: a sheet per table, bold shaded headers that stay in
view, money as yuan with two decimals, and a totals row where a table asks for one). Money columns
carry integer fen and are written in yuan; every other cell is written as it is.

A totals row holds the sum of each column marked `total`, computed here from the rows written (a
value, not a formula, so any reader — openpyxl included — sees the figure without recalculating)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
HEADER_FILL = "DDE7F0"
MAX_WIDTH = 48  # characters: a long title column stays readable without taking the screen


@dataclass(frozen=True)
class Column:
    label: str
    money: bool = False
    total: bool = False  # summed in the table's totals row (numbers only)


@dataclass(frozen=True)
class Table:
    """One table of a download: a sheet of the workbook, a section of the CSV. `totals_label`, when
    set, adds a last row with that label in the first column and the sums of the `total` columns."""

    title: str
    columns: list[Column]
    rows: list[list[Any]]
    totals_label: str | None = None
    notes: list[str] = field(default_factory=list)  # lines written above the table (filters, period)

    def totals(self) -> list[Any] | None:
        if self.totals_label is None:
            return None
        out: list[Any] = []
        for i, column in enumerate(self.columns):
            if column.total:
                out.append(sum(row[i] or 0 for row in self.rows))
            else:
                out.append(self.totals_label if i == 0 else None)
        return out


def _cell(column: Column, value: Any) -> Any:
    if column.money and isinstance(value, int):
        return Decimal(value) / 100
    return value


def _csv_row(columns: list[Column], row: list[Any]) -> list[Any]:
    cells = [_cell(c, v) for c, v in zip(columns, row, strict=True)]
    return [f"{v:.2f}" if isinstance(v, Decimal) else "" if v is None else v for v in cells]


def tables_to_csv(tables: Sequence[Table]) -> bytes:
    """Each table under its title (when there are several), a blank line between them."""
    out = io.StringIO()
    writer = csv.writer(out)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
        if len(tables) > 1:
            writer.writerow([table.title])
        for note in table.notes:
            writer.writerow([note])
        writer.writerow([c.label for c in table.columns])
        for row in table.rows:
            writer.writerow(_csv_row(table.columns, row))
        totals = table.totals()
        if totals is not None:
            writer.writerow(_csv_row(table.columns, totals))
    return out.getvalue().encode("utf-8-sig")


def _xlsx_value(column: Column, value: Any) -> Any:
    value = _cell(column, value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and unique within the book.
    clean = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Sheet"
    name, n = clean, 2
    while name in used:
        suffix = f" ({n})"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def tables_to_xlsx(tables: Sequence[Table]) -> bytes:
    from openpyxl import Workbook  # only exports need it
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    for table in tables:
        sheet = book.create_sheet(title=_sheet_title(table.title, used))
        for note in table.notes:
            sheet.append([note])
        header_row = len(table.notes) + 1
        sheet.append([c.label for c in table.columns])
        for cell in sheet[header_row]:
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.freeze_panes = f"A{header_row + 1}"  # a reference, not a cell: cell() would add a row
        for row in table.rows:
            sheet.append([_xlsx_value(c, v) for c, v in zip(table.columns, row, strict=True)])
        totals = table.totals()
        if totals is not None:
            sheet.append([_xlsx_value(c, v) for c, v in zip(table.columns, totals, strict=True)])
            for cell in sheet[sheet.max_row]:
                cell.font = bold
        for i, column in enumerate(table.columns, start=1):
            letter = get_column_letter(i)
            if column.money:
                for (cell,) in sheet.iter_rows(min_row=header_row + 1, min_col=i, max_col=i):
                    cell.number_format = MONEY_FORMAT
            longest = max([_width(column.label)] + [_width(r[i - 1]) for r in table.rows[:500]], default=8)
            sheet.column_dimensions[letter].width = min(MAX_WIDTH, longest + 2)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _width(value: Any) -> int:
    # A CJK character takes about two Latin character widths in Excel's default font.
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def to_csv(columns: list[Column], rows: list[list[Any]]) -> bytes:
    return tables_to_csv([Table("", columns, rows)])


def to_xlsx(columns: list[Column], rows: list[list[Any]], title: str) -> bytes:
    return tables_to_xlsx([Table(title, columns, rows)])


def attachment(body: bytes, fmt: str, name: str) -> Response:
    media_type = XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"},
    )


def download(columns: list[Column], rows: list[list[Any]], fmt: str, name: str, title: str) -> Response:
    """The table as an attachment named `name`.<fmt>."""
    return download_tables([Table(title, columns, rows)], fmt, name)


def download_tables(tables: Sequence[Table], fmt: str, name: str) -> Response:
    """Several tables as one attachment named `name`.<fmt>: a sheet each in XLSX, sections in CSV."""
    body = tables_to_xlsx(tables) if fmt == "xlsx" else tables_to_csv(tables)
    return attachment(body, fmt, name)
