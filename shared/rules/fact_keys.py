"""Fact keys: each fact's deterministic key, derived from its source, so the same thing reported
twice is one fact (``FACT#{kind}#{key}`` in the member partition, docs/data-model.md).

* payment: the payment's own id (PaymentIntent, else Invoice, else Checkout Session;
  ``shared.adapters.stripe_events``) - at most 255 characters, used as is;
* CE from an xAPI statement: ``statement_fact_key`` (one fact per crediting statement; of the live
  statements of one course only one counts: ``shared.rules.ce_credit``);
* CE from a provider CSV row: ``csv_row_fact_key`` (the provider's certificate, else file and line).

Keys from outside text go through ``bounded``: a DynamoDB sort key holds at most 1024 bytes.
"""

from __future__ import annotations

import hashlib

MAX_KEY_BYTES = 700  # leaves room for the "FACT#{kind}#" prefix and the event keys built from a key


def bounded(value: str) -> str:
    """``value`` when it fits a key, else ``sha256:`` and its digest (same value, same key)."""
    if len(value.encode("utf-8")) <= MAX_KEY_BYTES:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def course_fact_key(course_id: str) -> str:
    """The CE fact key of an xAPI/cmi5 course: its IRI (very long IRIs hashed)."""
    return bounded(course_id)


STATEMENT = " statement "  # IRIs hold no spaces: the course part of a key is everything before it


def statement_fact_key(course_id: str, statement_id: str) -> str:
    """The CE fact key of one xAPI statement's report of a course: the course key and the statement id."""
    return f"{course_fact_key(course_id)}{STATEMENT}{statement_id}"


def course_of_fact_key(key: str) -> str | None:
    """The course key of a statement's CE fact key (``statement_fact_key``); None for other keys."""
    course, found, _ = key.partition(STATEMENT)
    return course if found else None


def csv_row_fact_key(provider_id: str, certificate_id: str | None, file: str, line: int) -> str:
    """The CE fact key of a provider CSV row: the provider's certificate id when the row has one (the
    same certificate in a later file is the same credit), else the file and line."""
    if certificate_id:
        return f"{provider_id}/{certificate_id}"
    return f"{provider_id}/{file}#{line}"
