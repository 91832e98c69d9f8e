"""Key design of the single table (see docs/data-model.md for every access pattern)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

PK = "pk"
SK = "sk"
DUE_INDEX = "DueIndex"  # sparse: certifications by next action date
DUE_PK = "due_pk"
DUE_SK = "due_sk"
EMAIL_INDEX = "EmailIndex"  # sparse: member profile by lower-cased e-mail
EMAIL_PK = "email_pk"
LIST_INDEX = "ListIndex"  # sparse: admin listings (parked payments, unmatched statements, ...)
LIST_PK = "list_pk"
LIST_SK = "list_sk"
RECORDED_INDEX = "RecordedIndex"  # sparse: a member's header items, then its facts newest-recorded first
RECORDED_SK = "rec_sk"

PROFILE_SK = "PROFILE"
CERT_PREFIX = "CERT#"
FACT_PREFIX = "FACT#"
EVENT_PREFIX = "EVENT#"
CHECKPOINT_PREFIX = "CKPT#"
HEADER_RECORDED_PREFIX = "A#"  # profile, certifications, checkpoints: first in RecordedIndex
STATE_RECORDED_PREFIX = "B#"  # then badges and open recertification applications
FACT_RECORDED_PREFIX = "F#"  # then facts, by recorded date descending
_LAST_DAY = 99991231


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def cert_sk(credential: str) -> str:
    return f"{CERT_PREFIX}{credential}"


def fact_sk(kind: str, key: str) -> str:
    return f"{FACT_PREFIX}{kind}#{key}"


def checkpoint_sk(credential: str) -> str:
    return f"{CHECKPOINT_PREFIX}{credential}"


def header_recorded_sk(sort_key: str) -> str:
    """RecordedIndex sort key of a header item (profile, certification, checkpoint): before every fact."""
    return f"{HEADER_RECORDED_PREFIX}{sort_key}"


def fact_recorded_sk(recorded_on: date, sort_key: str) -> str:
    """RecordedIndex sort key of a fact: its recorded date *descending* (newest first), then its table
    sort key, so "the header items and the facts recorded since day X" is one contiguous range read
    from the start of the member's index partition."""
    inverted = _LAST_DAY - int(recorded_on.strftime("%Y%m%d"))
    return f"{FACT_RECORDED_PREFIX}{inverted:08d}#{sort_key}"


def recorded_on_of(recorded_sk: str) -> date | None:
    """The recorded date a fact's RecordedIndex sort key carries (None for a header item)."""
    if not recorded_sk.startswith(FACT_RECORDED_PREFIX):
        return None
    digits = str(_LAST_DAY - int(recorded_sk[len(FACT_RECORDED_PREFIX) :].split("#", 1)[0]))
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


BADGE_EVENT_PREFIX = "EVENT#badge#"  # badges are shown with the status: header items of RecordedIndex
APPLICATION_EVENT_PREFIX = "EVENT#recert_application#"  # open ones are header items too


def recorded_index_sk(sort_key: str, recorded_on: str | None, status: str | None = None) -> str | None:
    """RecordedIndex sort key of an item: header items (profile, certifications, checkpoints), then
    the member's badges and open recertification applications (``status`` is the application's), then
    facts by recorded date descending; None for items a status read never needs (the other events,
    closed applications included, which only the timeline reads).

    The daily run reads the member's range from the badges on (``daily_range``): everything but the
    profile, certification rows and checkpoints, which its due entry carries."""
    if sort_key.startswith(FACT_PREFIX) and recorded_on is not None:
        return fact_recorded_sk(date.fromisoformat(recorded_on), sort_key)
    if sort_key == PROFILE_SK or sort_key.startswith((CERT_PREFIX, CHECKPOINT_PREFIX)):
        return header_recorded_sk(sort_key)
    if sort_key.startswith(BADGE_EVENT_PREFIX) or (
        sort_key.startswith(APPLICATION_EVENT_PREFIX) and status == "open"
    ):
        return f"{STATE_RECORDED_PREFIX}{sort_key}"
    return None


def daily_range(through: date | None) -> tuple[str, str]:
    """RecordedIndex sort-key bounds of the daily run's read: the badges and open applications, then
    the facts recorded after ``through`` (a checkpoint's day; None: every fact), newest first.
    Inclusive bounds: the upper one is the bare prefix of the facts recorded on ``through``, so none
    of those is in."""
    if through is None:
        return STATE_RECORDED_PREFIX, f"{FACT_RECORDED_PREFIX}~"  # "~" sorts after every digit
    return STATE_RECORDED_PREFIX, fact_recorded_sk(through, "")[:-1]


def indexed(values: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes plus its RecordedIndex sort key when it belongs in that index (every
    writer of member-partition items builds them through this, so no writer pays a request for it)."""
    body = values.get("body")
    recorded = body.get("recorded_on") if isinstance(body, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    status = data.get("status") if isinstance(data, dict) else None
    index_sk = recorded_index_sk(
        values[SK],
        recorded if isinstance(recorded, str) else None,
        status if isinstance(status, str) else None,
    )
    return {**values, RECORDED_SK: index_sk} if index_sk is not None else values


def event_sk(kind: str, key: str) -> str:
    return f"{EVENT_PREFIX}{kind}#{key}"


def due_pk(day: date) -> str:
    """DueIndex partition: one per calendar month, so a catch-up over missed days (or years) is a
    range read of a few partitions instead of one Query per day."""
    return f"DUE#{day:%Y-%m}"


def due_sk(day: date, member_id: str, credential: str) -> str:
    """DueIndex sort key: the due date first, so a day range is a ``BETWEEN`` on the sort key."""
    return f"{day.isoformat()}#{member_id}#{credential}"


def due_sk_bounds(first: date, last: date) -> tuple[str, str]:
    """Sort-key bounds covering every certification due from ``first`` through ``last``."""
    return f"{first.isoformat()}#", f"{last.isoformat()}$"  # "$" sorts right after "#"


def months_between(first: date, last: date) -> list[date]:
    """First day of every month from ``first``'s through ``last``'s."""
    months, cursor = [], first.replace(day=1)
    while cursor <= last:
        months.append(cursor)
        cursor = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def email_pk(email: str) -> str:
    return f"EMAIL#{email.strip().lower()}"
