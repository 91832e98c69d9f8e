"""Provider CSV batches: the documented column set and per-row validation (no I/O).

Columns (header required, order free, UTF-8 with or without BOM):
``member_id, activity_id, completed_on, points, category, certificate_id``. ``certificate_id`` may be
empty (the row is then keyed by file and line). Each row is either a ``CsvRow`` (a pydantic model
that checks every cell) or a rejection with its line number and the first problem's reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from shared.rules.dates import parse_iso_date
from shared.rules.ids import MEMBER_ID
from shared.rules.policy import Category

COLUMNS = ("member_id", "activity_id", "completed_on", "points", "category", "certificate_id")
MAX_POINTS = Decimal(100)
_ACTIVITY_ID = re.compile(r"[^\s\x00-\x1f\x7f]+")  # an IRI: no blanks or control characters
_CERTIFICATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_CATEGORIES = {c.value for c in Category}


def _refused(reason: str) -> PydanticCustomError:
    """A row's reason as a pydantic error: the per-row report shows it as is."""
    return PydanticCustomError("csv_row", "{reason}", {"reason": reason})


def _checked(pattern: re.Pattern[str], reason: str, max_length: int | None = None) -> AfterValidator:
    # Python's ``re`` (fullmatch), not pydantic's Rust ``pattern``: ``\s`` must mean what it means here.
    def check(value: str) -> str:
        if not pattern.fullmatch(value) or (max_length is not None and len(value) > max_length):
            raise _refused(reason)
        return value

    return AfterValidator(check)


def _completed_on(value: str) -> date:
    try:
        return parse_iso_date(value)
    except ValueError:
        raise _refused(f"bad date {value!r} (expected YYYY-MM-DD)") from None


def _points(value: str) -> Decimal:
    try:
        points = Decimal(value)
    except InvalidOperation:
        points = Decimal("NaN")
    if not points.is_finite():
        raise _refused(f"points not a number: {value!r}")
    if points < 0:
        raise _refused("negative points")
    if points == 0 or points > MAX_POINTS:
        raise _refused(f"points must be more than 0 and at most {MAX_POINTS}")
    return points


def _category(value: str) -> Category:
    if value not in _CATEGORIES:
        raise _refused(f"unknown category {value!r}")
    return Category(value)


def _certificate(value: str) -> str | None:
    """An empty cell is None: the row is then keyed by file and line."""
    if value and not _CERTIFICATE.fullmatch(value):
        raise _refused("certificate_id malformed")
    return value or None


class CsvRow(BaseModel):
    """One valid data row; fields are checked in this order and a row's first problem is its reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int  # the line in the file (the header is line 1)
    member_id: Annotated[str, _checked(MEMBER_ID, "member_id missing or malformed")]
    activity_id: Annotated[str, _checked(_ACTIVITY_ID, "activity_id missing or malformed", 2048)]
    completed_on: Annotated[date, BeforeValidator(_completed_on)]
    points: Annotated[Decimal, BeforeValidator(_points)]
    category: Annotated[Category, BeforeValidator(_category)]
    certificate_id: Annotated[str | None, BeforeValidator(_certificate)]


@dataclass(frozen=True)
class Rejection:
    line: int  # the line in the file (the header is line 1)
    reason: str


class BadFile(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadFile(f"not UTF-8 (byte {error.start})") from error


def read_records(
    data: bytes, columns: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str] | Rejection]]:
    """The data rows of a CSV file with a header naming ``columns`` (each required unless listed in
    ``optional``; any order, no others), as (line, cells by column name, stripped) - or a
    ``Rejection`` for a row with the wrong number of fields. Blank lines are skipped. A file the CSV
    reader cannot follow (encoding, header, a field over its size limit) is a ``BadFile``."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        yield from _records(reader, columns, optional)
    except csv.Error as error:
        raise BadFile(f"line {reader.line_num}: unreadable CSV ({error})") from error


def _records(
    reader: Any, columns: Sequence[str], optional: Sequence[str]
) -> Iterator[tuple[int, dict[str, str] | Rejection]]:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration as error:
        raise BadFile("empty file: a header row is required") from error
    missing = [c for c in columns if c not in header and c not in optional]
    if missing:
        raise BadFile(f"header must name the columns {', '.join(columns)}; missing {', '.join(missing)}")
    unknown = [h for h in header if h not in columns]
    if unknown:
        raise BadFile(f"unknown columns {', '.join(unknown)}; the columns are {', '.join(columns)}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise BadFile(f"columns named twice: {', '.join(duplicated)}")
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            yield line, Rejection(line, f"expected {len(header)} fields, found {len(values)}")
            continue
        yield line, {name: values[i].strip() for i, name in enumerate(header)}


def parse_rows(data: bytes) -> tuple[list[CsvRow], list[Rejection], int]:
    """(good rows, rejected rows, data rows read). Duplicates within the file are rejected here:
    the same certificate id twice, or the same member/activity/date twice. A file the CSV reader
    cannot follow (a field over its size limit, ...) is a ``BadFile`` naming the line."""
    rows: list[CsvRow] = []
    rejected: list[Rejection] = []
    seen_certificates: dict[str, int] = {}
    seen_rows: dict[tuple[str, str, date], int] = {}
    count = 0
    for line, row in read_records(data, COLUMNS):
        count += 1
        if isinstance(row, Rejection):
            rejected.append(row)
            continue
        result = _row(line, row)
        if isinstance(result, Rejection):
            rejected.append(result)
            continue
        if result.certificate_id is not None:
            first = seen_certificates.get(result.certificate_id)
            if first is not None:
                rejected.append(Rejection(line, f"duplicate certificate_id (line {first})"))
                continue
            seen_certificates[result.certificate_id] = line
        ident = (result.member_id, result.activity_id, result.completed_on)
        first = seen_rows.get(ident)
        if first is not None:
            rejected.append(Rejection(line, f"duplicate row (line {first})"))
            continue
        seen_rows[ident] = line
        rows.append(result)
    return rows, rejected, count


def _row(line: int, row: dict[str, str]) -> CsvRow | Rejection:
    try:
        return CsvRow.model_validate({"line": line, **row})
    except ValidationError as error:
        return Rejection(line, error.errors()[0]["msg"])
