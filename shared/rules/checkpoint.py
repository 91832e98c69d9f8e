"""Certification checkpoints: the rules' state folded at the end of a day, so that a status read
needs only the facts recorded after it (docs/rules.md, "Checkpoints"; docs/data-model.md).

A checkpoint is derived: :func:`fold` computes it from the facts, and evaluating from it
(``evaluate(..., checkpoint=...)``) gives exactly what evaluating every fact gives, provided that

* :func:`fold` accepted the day: nothing recorded by then is dated after it, the previous cycle's
  late window (R5) is closed, no audit is still open, every recertification is in force and no CE
  completion waits for the catalog (otherwise it returns None: no checkpoint that day);
* :func:`continues` accepts the facts recorded after it: none of them *reaches behind* it (a late
  fact). A late fact is one dated on or before the checkpoint's day (a late CE record, a payment
  paid then), or one that changes something the checkpoint folded (a refund or dispute of an older
  payment, a dispute won on an older reversal, a void of an older completion, a new version of an
  older self-reported activity, an audit decision on an audit drawn before it, a payment naming a
  fee year it holds as paid, a completion that makes a counted self-report a duplicate), or a
  recertification, an opening balance or a recertification payment. Then the caller evaluates
  every fact instead, and the checkpoint is rebuilt by its writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from shared.rules.cycles import current_cycle, previous_cycle_in_window
from shared.rules.dates import day_after
from shared.rules.fact_keys import course_of_fact_key
from shared.rules.fees import fee_number_of_year, paid_fee_numbers
from shared.rules.models import (
    ActivitySpec,
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    Certification,
    CeVoid,
    Checkpoint,
    Fact,
    FeePayment,
    OpeningBalance,
    PaymentReversal,
    Recertified,
    ReversalWithdrawn,
    SelfReported,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.self_report import effective_date, latest_versions
from shared.rules.status import (
    _Epoch,  # the same fold evaluate() runs, stopped at the checkpoint's day
    catalog_ids_needed,
    effective_payment_keys,
    recertified_from,
    same_credential,
    visible_facts,
)


def policy_digest(policy: RulesPolicy) -> str:
    """Fingerprint of the rules configuration a checkpoint was folded under."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]


def _dated(fact: Fact, policy: RulesPolicy) -> tuple[date, ...]:
    """The business dates a fact takes effect on (besides the day it was recorded)."""
    match fact:
        case FeePayment():
            return (fact.paid_on,)
        case CeCompletion():
            return (fact.completed_on,)
        case SelfReported():
            return (effective_date(fact.entry, policy), fact.entry.completed_on) if fact.entry else ()
        case AuditDrawn():
            return (fact.drawn_on,)
        case AuditDecided():
            return (fact.decided_on,)
        case Recertified():
            return (fact.completed_on,)
        case OpeningBalance():
            return (fact.cutover_on,)
        case _:
            return ()


def fold(
    cert: Certification,
    facts: Sequence[Fact],
    through: date,
    policy: RulesPolicy,
    catalog: dict[str, ActivitySpec] | None = None,
) -> Checkpoint | None:
    """The certification's checkpoint at the end of ``through`` (facts recorded by then), or None
    when that day is not one the rules can continue from exactly (see the module docstring)."""
    visible = visible_facts(facts, through)
    if catalog_ids_needed(visible) or any(d > through for f in visible for d in _dated(f, policy)):
        return None
    epoch = _Epoch(cert, visible, through, policy, catalog)
    if previous_cycle_in_window(epoch.start, through, policy) is not None:
        return None
    mine = [
        f
        for f in visible
        if isinstance(f, Recertified) and same_credential(f.credential, cert.credential, policy)
    ]
    if any(recertified_from(f, visible, through) is None for f in mine):
        return None
    decided = {d.audit_id for d in epoch.decided}
    if any(a.audit_id not in decided and day_after(a.deadline) > through for a in epoch.drawn):
        return None
    cycle = current_cycle(epoch.start, through, policy)
    points: dict[str, dict[Category, Decimal]] = {}
    for source, activity in epoch.counted(cycle, through):
        by_category = points.setdefault(source.value, {})
        by_category[activity.category] = by_category.get(activity.category, Decimal(0)) + activity.points
    effective = effective_payment_keys(epoch.payments, epoch.reversals, epoch.withdrawals, through)
    paid = paid_fee_numbers(
        [p for p in epoch.payments if p.key in effective], epoch.start, through, epoch.already_paid
    )
    lapsed_on, reasons = epoch.lapse()
    refs = {
        ref
        for report in latest_versions(epoch.reports, through).values()
        if report.entry is not None
        for ref in (report.entry.catalog_activity_id, report.entry.certificate_id)
        if ref is not None
    }
    # a later statement of a course already reported may change which of its statements counts
    refs |= {c.activity_id for c in epoch.all_completions if course_of_fact_key(c.key) is not None}
    return Checkpoint(
        credential=epoch.spec.code,
        certified_on=cert.certified_on,
        through=through,
        start=epoch.start,
        cutover_on=epoch.cutover_on,
        fees_paid=tuple(sorted(paid)),
        cycle_start=cycle.start,
        points=points,
        lapsed_on=lapsed_on,
        lapse_reasons=reasons,
        duplicate_refs=tuple(sorted(refs)),
        policy_digest=policy_digest(policy),
    )


def continues(
    checkpoint: Checkpoint, cert: Certification, facts: Sequence[Fact], as_of: date, policy: RulesPolicy
) -> bool:
    """Whether evaluating on ``as_of`` from ``checkpoint`` plus ``facts`` (the facts recorded after
    it; any older ones are ignored) gives exactly what evaluating every fact gives: the checkpoint
    belongs to this certification, roster date and policy, ``as_of`` is after its day, and no fact
    recorded after it is late."""
    if (
        as_of <= checkpoint.through
        or checkpoint.certified_on != cert.certified_on
        or not same_credential(checkpoint.credential, cert.credential, policy)
        or checkpoint.policy_digest != policy_digest(policy)
    ):
        return False
    later = [f for f in facts if checkpoint.through < f.recorded_on <= as_of]
    return not any(_late(f, checkpoint, later, policy) for f in later)


def _late(fact: Fact, checkpoint: Checkpoint, later: Sequence[Fact], policy: RulesPolicy) -> bool:
    """Whether ``fact`` (recorded after the checkpoint) reaches behind it (module docstring)."""
    if any(day <= checkpoint.through for day in _dated(fact, policy)):
        return True
    reaches = next((rule for kind, rule in _REACHES_BEHIND if isinstance(fact, kind)), None)
    return reaches is not None and reaches(fact, checkpoint, later, policy)


def _keys_of(later: Sequence[Fact], kind: type[FeePayment | PaymentReversal | CeCompletion]) -> set[str]:
    return {f.key for f in later if isinstance(f, kind)}


def _first_reports(later: Sequence[Fact]) -> set[str]:
    """The self-reported activities whose first version was recorded after the checkpoint."""
    return {f.activity_id for f in later if isinstance(f, SelfReported) and f.version == 1}


def _completion_or_balance(
    fact: Any, checkpoint: Checkpoint, _later: Sequence[Fact], policy: RulesPolicy
) -> bool:
    return same_credential(fact.credential, checkpoint.credential, policy)


def _payment(fact: Any, checkpoint: Checkpoint, _later: Sequence[Fact], policy: RulesPolicy) -> bool:
    return fact.purpose == "recertification" or (
        same_credential(fact.credential, checkpoint.credential, policy)
        and any(fee_number_of_year(checkpoint.start, y) in checkpoint.fees_paid for y in fact.fee_years)
    )


def _reversal(fact: Any, _checkpoint: Checkpoint, later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    return fact.payment_key not in _keys_of(later, FeePayment)


def _withdrawal(fact: Any, _checkpoint: Checkpoint, later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    return fact.reversal_key not in _keys_of(later, PaymentReversal)


def _void(fact: Any, _checkpoint: Checkpoint, later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    return fact.completion_key not in _keys_of(later, CeCompletion)


def _completion(fact: Any, checkpoint: Checkpoint, _later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    refs = set(checkpoint.duplicate_refs)
    return bool(refs & {fact.activity_id, fact.certificate_id, fact.key.rpartition("/")[2]})


def _self_report(fact: Any, _checkpoint: Checkpoint, later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    entry = fact.entry
    duplicate_prone = entry is not None and (entry.catalog_activity_id or entry.certificate_id)
    return fact.activity_id not in _first_reports(later) or bool(duplicate_prone)


def _audit_decision(fact: Any, _checkpoint: Checkpoint, later: Sequence[Fact], _policy: RulesPolicy) -> bool:
    drawn = {f.audit_id for f in later if isinstance(f, AuditDrawn)}
    return fact.audit_id not in drawn or not set(fact.disallowed) <= _first_reports(later)


# Per fact type: does a fact of it, recorded after the checkpoint, change what the checkpoint folded?
_REACHES_BEHIND: tuple[tuple[type, Callable[[Any, Checkpoint, Sequence[Fact], RulesPolicy], bool]], ...] = (
    (Recertified, _completion_or_balance),
    (OpeningBalance, _completion_or_balance),
    (FeePayment, _payment),
    (PaymentReversal, _reversal),
    (ReversalWithdrawn, _withdrawal),
    (CeVoid, _void),
    (CeCompletion, _completion),
    (SelfReported, _self_report),
    (AuditDecided, _audit_decision),
)
