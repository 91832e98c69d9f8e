"""Key design of the single table (see docs/data-model.md for every access pattern)."""

from __future__ import annotations

from datetime import date, timedelta

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

PROFILE_SK = "PROFILE"
CERT_PREFIX = "CERT#"
FACT_PREFIX = "FACT#"
EVENT_PREFIX = "EVENT#"


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def cert_sk(credential: str) -> str:
    return f"{CERT_PREFIX}{credential}"


def fact_sk(kind: str, key: str) -> str:
    return f"{FACT_PREFIX}{kind}#{key}"


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
