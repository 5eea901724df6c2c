"""Reading a customers CSV file: rows in, checked customers and per-line errors out.

Pure (no I/O): :func:`parse_customers_csv` takes the decoded text. The format:

* UTF-8 (a byte-order mark, as Excel writes it, is skipped); the first non-blank row is
  the header. Columns, in any order, names in any case: ``name`` (required),
  ``phones`` (several separated by ``;`` or ``|``), ``address``, ``account_id``,
  ``service_id``, ``notes``. The Chinese headers 姓名, 电话, 地址, 账号, 业务号, 备注 (and
  a few synonyms, see :data:`COLUMN_ALIASES`) are accepted too. An unknown or repeated
  column rejects the whole file (a typo would otherwise drop a column of data silently).
* Every other row is one customer. A bad row is reported with the line where it starts
  and why; the good rows are imported. Blank rows are skipped.
* A quoting error (``"`` in the wrong place) rejects the whole file with its line: after
  it, where one field ends and the next begins is a guess.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Final

from cti.store.checks import CustomerFields, check_customer
from cti.store.errors import InvalidData
from cti.store.models import RowError

__all__ = ["COLUMNS", "COLUMN_ALIASES", "CsvRow", "parse_customers_csv"]

COLUMNS: Final = ("name", "phones", "address", "account_id", "service_id", "notes")
COLUMN_ALIASES: Final = {
    "phone": "phones",
    "mobile": "phones",
    "tel": "phones",
    "note": "notes",
    "account": "account_id",
    "service": "service_id",
    "姓名": "name",
    "名称": "name",
    "客户名称": "name",
    "电话": "phones",
    "手机": "phones",
    "联系电话": "phones",
    "地址": "address",
    "账号": "account_id",
    "户号": "account_id",
    "业务号": "service_id",
    "服务号": "service_id",
    "备注": "notes",
}
_PHONE_SPLIT: Final = re.compile(r"[;|；｜]")


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    customer: CustomerFields


def _header(row: list[str], line: int) -> list[str]:
    columns: list[str] = []
    for i, cell in enumerate(row):
        key = cell.strip().lower()
        column = key if key in COLUMNS else COLUMN_ALIASES.get(key)
        if column is None:
            raise InvalidData(
                f"line {line}",
                f"column {i + 1} {cell.strip()!r} is not one of {', '.join(COLUMNS)}",
            )
        if column in columns:
            raise InvalidData(f"line {line}", f"column {column!r} appears twice")
        columns.append(column)
    if "name" not in columns:
        raise InvalidData(f"line {line}", "the header has no 'name' column")
    return columns


def parse_customers_csv(text: str) -> tuple[list[CsvRow], list[RowError], int]:
    """(good rows, bad rows, number of data rows). Raises :class:`InvalidData` for a file
    that cannot be read as a whole (no header, unknown column, quoting error)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: list[str] | None = None
    good: list[CsvRow] = []
    bad: list[RowError] = []
    rows = 0
    accounts: dict[str, int] = {}
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise InvalidData(f"line {start}", f"not valid CSV: {error}") from None
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if columns is None:
            columns = _header(row, start)
            continue
        rows += 1
        if len(row) > len(columns):
            bad.append(RowError(start, f"{len(row)} fields, the header has {len(columns)}"))
            continue
        values = dict(zip(columns, row, strict=False))
        phones = [p for p in _PHONE_SPLIT.split(values.get("phones", "")) if p.strip()]
        try:
            fields = check_customer(
                name=values.get("name", ""),
                phones=phones,
                address=values.get("address", ""),
                account_id=values.get("account_id"),
                service_id=values.get("service_id"),
                notes=values.get("notes", ""),
            )
        except InvalidData as error:
            bad.append(RowError(start, str(error)))
            continue
        if fields.account_id is not None:
            first = accounts.setdefault(fields.account_id, start)
            if first != start:
                bad.append(
                    RowError(start, f"account_id: {fields.account_id!r} is also on line {first}")
                )
                continue
        good.append(CsvRow(start, fields))
    if columns is None:
        raise InvalidData("line 1", "empty file: expected a header row (name, phones, ...)")
    return good, bad, rows
