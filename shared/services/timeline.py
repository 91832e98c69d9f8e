"""The member timeline: every fact and event in date order, each with a one-line summary, so staff
can answer "why am I lapsed?" and "I never got a notice"."""

from __future__ import annotations

from datetime import date

from shared.rules.models import (
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    CeVoid,
    Fact,
    FeePayment,
    OpeningBalance,
    PaymentReversal,
    Recertified,
    ReversalWithdrawn,
    SelfReported,
)
from shared.store.dynamo import json_body
from shared.store.records import MemberRecord, TimelineEntry


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def describe(fact: Fact) -> tuple[date, str | None, str]:
    """(date it happened, credential or None, summary) for a rule fact."""
    match fact:
        case FeePayment():
            what = "annual fee" if fact.purpose == "annual_fee" else "recertification fee"
            return fact.paid_on, fact.credential, f"{what} paid {_dollars(fact.amount_cents)}"
        case PaymentReversal():
            return fact.reversed_on, None, f"payment {fact.payment_key} reversed ({fact.reason})"
        case ReversalWithdrawn():
            return fact.withdrawn_on, None, f"reversal {fact.reversal_key} withdrawn (dispute won)"
        case CeCompletion():
            if fact.points is None:
                return (
                    fact.completed_on,
                    None,
                    f"CE completed, activity not in catalog yet: {fact.activity_id}",
                )
            category = fact.category.value if fact.category else "uncategorised"
            return (
                fact.completed_on,
                None,
                f"CE completed: {fact.points} points ({category}) {fact.activity_id}",
            )
        case SelfReported():
            by = f" by {fact.actor}" if fact.actor else ""
            if fact.entry is None:
                return fact.recorded_on, None, f"self-reported CE {fact.activity_id} withdrawn{by}"
            changed = "" if fact.version == 1 else f"; changed {', '.join(fact.changed)}"
            return (
                fact.entry.completed_on,
                fact.entry.credential,
                f"self-reported CE {fact.activity_id} v{fact.version}{by}: "
                f"{fact.entry.category.value}, {fact.entry.title}{changed}",
            )
        case CeVoid():
            return fact.recorded_on, None, f"CE completion {fact.completion_key} voided"
        case AuditDrawn():
            return (
                fact.drawn_on,
                fact.credential,
                f"selected for CCP audit, documentation due {fact.deadline}",
            )
        case AuditDecided():
            reason = f": {fact.reason}" if fact.reason else ""
            return fact.decided_on, fact.credential, f"audit {fact.outcome}{reason}"
        case OpeningBalance():
            points = sum(fact.points.values())
            lapse = f" since {fact.lapsed_on} ({fact.lapse_reason})" if fact.lapsed_on else ""
            return (
                fact.cutover_on,
                fact.credential,
                f"opening balance from the previous system: {fact.standing.value}{lapse}, fees paid "
                f"through {fact.paid_through}, {points} CCP points in the cycle from {fact.cycle_start}",
            )
        case Recertified():
            return fact.completed_on, fact.credential, f"recertified by {fact.method.value}"
    raise TypeError(f"no description for {type(fact).__name__}")  # pragma: no cover - exhaustive


def timeline_of(record: MemberRecord) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            on=cert.certified_on,
            kind="certified",
            credential=cert.credential,
            summary=f"certified {cert.credential}",
            recorded_on=cert.certified_on,
        )
        for cert in record.certifications.values()
    ]
    for fact in record.facts:
        on, credential, summary = describe(fact)
        entries.append(
            TimelineEntry(
                on=on,
                kind=fact.kind,
                credential=credential or getattr(fact, "credential", None),
                summary=summary,
                recorded_on=fact.recorded_on,
                data=json_body(fact),
            )
        )
    entries.extend(
        TimelineEntry(
            on=event.occurred_on,
            kind=event.kind,
            credential=event.credential,
            summary=event.summary,
            recorded_on=event.recorded_on,
            data=event.data,
        )
        for event in record.events
    )
    return sorted(entries, key=lambda entry: (entry.on, entry.recorded_on, entry.kind, entry.summary))
