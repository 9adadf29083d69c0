"""Tables as downloads: totals rows summed from the rows, money in yuan, headers formatted, one
sheet per table in XLSX and one section per table in CSV."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from fieldcast.integrity.exports import Column, Table, tables_to_csv, tables_to_xlsx

COLUMNS = [Column("商品"), Column("件数", total=True), Column("实付", money=True, total=True), Column("库存")]
ROWS = [["丰城富硒大米", 3, 12_345, 7], ["秭归脐橙", 5, 99, None], ["沁源党参", 0, 0, 2]]


def test_xlsx_has_formatted_headers_money_in_yuan_and_a_totals_row() -> None:
    body = tables_to_xlsx([Table("商品销售", COLUMNS, ROWS, totals_label="合计", notes=["2026-11-28"])])
    sheet = load_workbook(io.BytesIO(body))["商品销售"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["2026-11-28", None, None, None]
    assert values[1] == ["商品", "件数", "实付", "库存"]
    assert sheet["A2"].font.bold and sheet["A2"].fill.fgColor.rgb.endswith("DDE7F0")
    assert sheet.freeze_panes == "A3"
    assert values[2] == ["丰城富硒大米", 3, 123.45, 7]
    assert sheet["C3"].number_format == "#,##0.00"
    # The totals row sums the marked columns only, from the rows written above it.
    assert values[-1] == ["合计", 8, 124.44, None]
    assert sheet.cell(row=sheet.max_row, column=1).font.bold


def test_several_tables_become_sheets_with_unique_valid_names() -> None:
    tables = [Table("a/b: 销售", COLUMNS, ROWS), Table("a/b: 销售", COLUMNS, ROWS[:1])]
    book = load_workbook(io.BytesIO(tables_to_xlsx(tables)))
    assert book.sheetnames == ["ab 销售", "ab 销售 (2)"]
    assert book["ab 销售 (2)"].max_row == 2


def test_csv_sections_carry_titles_and_totals_with_a_byte_order_mark() -> None:
    body = tables_to_csv(
        [Table("商品销售", COLUMNS, ROWS, totals_label="合计"), Table("主播", COLUMNS[:2], [["甲", 1]])]
    )
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["商品销售"]
    assert rows[2] == ["丰城富硒大米", "3", "123.45", "7"]
    assert rows[5] == ["合计", "8", "124.44", ""]
    assert rows[6] == []
    assert rows[7:] == [["主播"], ["商品", "件数"], ["甲", "1"]]


def test_a_table_without_totals_label_has_no_totals_row() -> None:
    rows = list(csv.reader(io.StringIO(tables_to_csv([Table("x", COLUMNS, ROWS)]).decode("utf-8-sig"))))
    assert len(rows) == 1 + len(ROWS)
