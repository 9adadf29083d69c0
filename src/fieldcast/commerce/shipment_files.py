"""Reading a shipments file a supplier uploads: CSV (UTF-8, with or without BOM, or GB18030 as
Excel in China saves it) or XLSX (the first sheet, read with openpyxl). The first row names the
columns, in English or Chinese, in any order:

    order_id / 订单号 · carrier / 快递公司 · tracking_no / 运单号 · status / 状态 (optional) · note / 备注 (optional)

This module only turns the file into rows of text keyed by column; the rules (known carrier, the
number's shape, the order's state) are fulfilment's. Row numbers are the spreadsheet's: the header
is row 1, so the first order is row 2."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from fieldcast.commerce.errors import BadShipmentFile, RowProblem
from fieldcast.i18n import N_

ROWS_MAX = 2000
COLUMNS = ("order_id", "carrier", "tracking_no", "status", "note")
REQUIRED = ("order_id", "carrier", "tracking_no")
_HEADERS = {
    "order_id": "order_id",
    "order": "order_id",
    "订单号": "order_id",
    "订单编号": "order_id",
    "carrier": "carrier",
    "快递公司": "carrier",
    "快递": "carrier",
    "物流公司": "carrier",
    "tracking_no": "tracking_no",
    "tracking number": "tracking_no",
    "运单号": "tracking_no",
    "快递单号": "tracking_no",
    "status": "status",
    "状态": "status",
    "物流状态": "status",
    "note": "note",
    "备注": "note",
}


@dataclass(frozen=True)
class FileRow:
    number: int
    values: dict[str, str]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a spreadsheet cell
    return str(value).strip()


def _file_problem(message: str, **params: object) -> BadShipmentFile:
    return BadShipmentFile(message, [RowProblem(1, "file", message, **params)], **params)


def _csv_rows(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    raise _file_problem(N_("The file is not UTF-8 or GB18030 text."))


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # only uploads need it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _file_problem(N_("The file is not an XLSX workbook.")) from exc
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_cell(v) for v in row])
            if len(rows) > ROWS_MAX + 1:
                break
        return rows
    finally:
        book.close()


def read_shipments_file(data: bytes, filename: str) -> list[FileRow]:
    """The file's rows with a value per known column (blank rows left out). Refuses, with the
    reason, a file it cannot read, a header without the required columns, an empty file or one of
    more than ROWS_MAX rows."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        table = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")):
        table = _csv_rows(data)
    else:
        raise _file_problem(N_("Upload a .csv or .xlsx file."))
    if not table:
        raise _file_problem(N_("The file is empty."))
    header = [_HEADERS.get(h.strip().lower()) for h in table[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise _file_problem(
            N_("The first row must name the columns; missing: %(columns)s."), columns=", ".join(missing)
        )
    rows: list[FileRow] = []
    for index, raw in enumerate(table[1:], start=2):
        values = {col: _cell(raw[i]) if i < len(raw) else "" for i, col in enumerate(header) if col is not None}
        if any(values.values()):
            rows.append(FileRow(index, values))
    if not rows:
        raise _file_problem(N_("The file has no orders in it."))
    if len(rows) > ROWS_MAX:
        raise _file_problem(N_("At most %(max)s orders per file."), max=ROWS_MAX)
    return rows
