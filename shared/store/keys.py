"""Key design of the single table (see docs/data-model.md for every access pattern)."""

from __future__ import annotations

from datetime import date

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
    return f"DUE#{day.isoformat()}"


def due_sk(member_id: str, credential: str) -> str:
    return f"{member_id}#{credential}"


def email_pk(email: str) -> str:
    return f"EMAIL#{email.strip().lower()}"
