"""The roster file: its S3 keys (``roster-imports/[dry-run/]{name}.csv``), its columns, and its rows
read into ``PUT /members/{id}`` bodies, each checked like that body and refused with its line and
reason (README, "Bulk roster import"). Importing the rows is ``roster_import``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.adapters.csv_batches import Rejection, read_records
from shared.adapters.files import match_upload_key
from shared.adapters.notifier import safe_cell
from shared.rules.ids import is_member_id
from shared.services.member_schemas import MemberUpsert

IMPORT_PREFIX = "roster-imports/"
DRY_RUN_PREFIX = "roster-imports/dry-run/"
RESULT_PREFIX = "roster-imports-results/"
_KEY = re.compile(r"roster-imports/(?P<dry>dry-run/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.() -]{0,200})\.csv")

MEMBER_COLUMNS = (
    "member_id",
    "first_name",
    "last_name",
    "email",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
)
ADDRESS_COLUMNS = MEMBER_COLUMNS[4:]
BALANCE_COLUMNS = (
    "cutover_on",
    "paid_through",
    "cycle_start",
    "points",
    "standing",
    "lapsed_on",
    "lapse_reason",
    "badge_id",
)
COLUMNS = (*MEMBER_COLUMNS, "credential", "certified_on", *BALANCE_COLUMNS)
OPTIONAL = (*ADDRESS_COLUMNS, "points", "lapsed_on", "lapse_reason", "badge_id")
_POINT = re.compile(r"(?P<category>[a-z_]{1,40})=(?P<points>[0-9]{1,4}(\.[0-9]{1,2})?)")


@dataclass(frozen=True)
class ImportKey:
    name: str
    dry_run: bool

    @property
    def result_key(self) -> str:
        return f"{RESULT_PREFIX}{'dry-run/' if self.dry_run else ''}{self.name}.json"


def parse_import_key(key: str) -> ImportKey | None:
    match = match_upload_key(_KEY, key)
    return None if match is None else ImportKey(match["name"], bool(match["dry"]))


@dataclass(frozen=True)
class RosterRow:
    line: int
    member_id: str
    credential: str
    member: tuple[str, ...]  # the member columns, to check that a member's rows agree
    upsert: MemberUpsert  # the member with this row's certification


def _upsert_body(row: Mapping[str, str]) -> dict[str, Any]:
    """The ``PUT /members/{id}`` body of one row (empty optional cells left out)."""
    balance: dict[str, Any] = {
        name: row[name] for name in BALANCE_COLUMNS if name != "points" and row.get(name)
    }
    balance["points"] = _points(row.get("points", ""))
    body: dict[str, Any] = {
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "email": row["email"],
        "certifications": [
            {"credential": row["credential"], "certified_on": row["certified_on"], "opening_balance": balance}
        ],
    }
    if row.get("line1"):
        body["postal_address"] = {name: row[name] for name in ADDRESS_COLUMNS if row.get(name)}
    return body


class _BadPoints(ValueError):
    pass


def _points(cell: str) -> dict[str, str]:
    """``category=points`` pairs separated by ``;`` (e.g. ``professional_education=12;authorship=3``)."""
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        match = _POINT.fullmatch(part)
        if match is None:
            raise _BadPoints(f"points: {part!r} is not category=points (e.g. professional_education=12)")
        if match["category"] in found:
            raise _BadPoints(f"points: {match['category']} listed twice")
        found[match["category"]] = match["points"]
    return found


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    names = [
        str(p) for p in first["loc"] if p not in ("certifications", 0, "opening_balance", "postal_address")
    ]
    return f"{'.'.join(names) or 'row'}: {first['msg']}"


def parse_roster(
    data: bytes, canonical: Callable[[str], str | None]
) -> tuple[list[RosterRow], list[Rejection], int]:
    """(good rows, refused rows, data rows read): each row's fields checked like the PUT body, a
    formula cell refused, the same member-credential twice refused, a member's rows must agree on
    the member fields."""
    rows: list[RosterRow] = []
    refused: list[Rejection] = []
    seen: dict[tuple[str, str], int] = {}
    members: dict[str, tuple[int, tuple[str, ...]]] = {}
    count = 0
    for line, cells in read_records(data, COLUMNS, OPTIONAL):
        count += 1
        if isinstance(cells, Rejection):
            refused.append(cells)
            continue
        formula = next((name for name, value in cells.items() if safe_cell(value) != value), None)
        if formula is not None:
            refused.append(
                Rejection(line, f"{formula}: a formula cell (starts with = + - @ or a control character)")
            )
            continue
        try:
            upsert = MemberUpsert.model_validate(_upsert_body(cells))
        except _BadPoints as error:
            refused.append(Rejection(line, str(error)))
            continue
        except ValidationError as error:
            refused.append(Rejection(line, _problem(error)))
            continue
        member_id = cells["member_id"]
        if not is_member_id(member_id):
            refused.append(Rejection(line, "member_id: missing or malformed"))
            continue
        credential = upsert.certifications[0].credential
        ident = (member_id, canonical(credential) or credential.upper())
        if ident in seen:
            refused.append(Rejection(line, f"duplicate row: {ident[1]} of {member_id} (line {seen[ident]})"))
            continue
        seen[ident] = line
        member = tuple(cells.get(name, "") for name in MEMBER_COLUMNS)
        first = members.setdefault(member_id, (line, member))
        if first[1] != member:
            refused.append(Rejection(line, f"member fields differ from line {first[0]} of the same member"))
            continue
        rows.append(RosterRow(line, member_id, ident[1], member, upsert))
    return rows, refused, count
