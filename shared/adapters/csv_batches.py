"""Provider CSV batches: the documented column set and per-row validation (no I/O).

Columns (header required, order free, UTF-8 with or without BOM):
``member_id, activity_id, completed_on, points, category, certificate_id``. ``certificate_id`` may be
empty (the row is then keyed by file and line). Each row is either a ``CsvRow`` or a rejection with
its line number and reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.rules.dates import parse_iso_date
from shared.rules.policy import Category

COLUMNS = ("member_id", "activity_id", "completed_on", "points", "category", "certificate_id")
MAX_POINTS = Decimal(100)
_MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ACTIVITY_ID = re.compile(r"[^\s\x00-\x1f\x7f]+")  # an IRI: no blanks or control characters
_CERTIFICATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
_CATEGORIES = {c.value for c in Category}


@dataclass(frozen=True)
class CsvRow:
    line: int
    member_id: str
    activity_id: str
    completed_on: date
    points: Decimal
    category: Category
    certificate_id: str | None


@dataclass(frozen=True)
class Rejection:
    line: int
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
    if not _MEMBER_ID.fullmatch(row["member_id"]):
        return Rejection(line, "member_id missing or malformed")
    if not _ACTIVITY_ID.fullmatch(row["activity_id"]) or len(row["activity_id"]) > 2048:
        return Rejection(line, "activity_id missing or malformed")
    try:
        completed_on = parse_iso_date(row["completed_on"])
    except ValueError:
        return Rejection(line, f"bad date {row['completed_on']!r} (expected YYYY-MM-DD)")
    try:
        points = Decimal(row["points"])
    except InvalidOperation:
        return Rejection(line, f"points not a number: {row['points']!r}")
    if not points.is_finite():
        return Rejection(line, f"points not a number: {row['points']!r}")
    if points < 0:
        return Rejection(line, "negative points")
    if points == 0 or points > MAX_POINTS:
        return Rejection(line, f"points must be more than 0 and at most {MAX_POINTS}")
    if row["category"] not in _CATEGORIES:
        return Rejection(line, f"unknown category {row['category']!r}")
    certificate = row["certificate_id"] or None
    if certificate is not None and not _CERTIFICATE.fullmatch(certificate):
        return Rejection(line, "certificate_id malformed")
    return CsvRow(
        line=line,
        member_id=row["member_id"],
        activity_id=row["activity_id"],
        completed_on=completed_on,
        points=points,
        category=Category(row["category"]),
        certificate_id=certificate,
    )
