"""R4-R8 and the public entry point :func:`evaluate`.

Status is a pure function of (certification, set of facts, date, policy, catalog). ``evaluate``
filters and de-duplicates the facts itself, so the caller may pass everything it loaded for the
member partition, in any order, duplicates included.

Lapse (R7) is *sticky*: each lapse condition is judged on the facts as they stood on the day it
would take effect (facts recorded by that day, events dated before it), so a fact recorded later can
make a lapse appear with an earlier date but can never undo one. Only a ``Recertified`` fact starts
a new epoch, and only while its fee is paid (``recertified_from``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from shared.rules.ce_credit import superseded
from shared.rules.cycles import (
    ZERO,
    CreditedActivity,
    Cycle,
    Tally,
    activity_rejection,
    counts_for_cycle,
    current_cycle,
    cycle_containing,
    cycle_number,
    late_window_end,
    previous_cycle_in_window,
    tally,
)
from shared.rules.dates import add_years, day_after, day_before
from shared.rules.fees import fee_overdue_from, fee_status, fees_covered, first_unpaid_fee, paid_fee_numbers
from shared.rules.models import (
    ActivityDecision,
    ActivitySpec,
    AuditDecided,
    AuditDrawn,
    CcpStatus,
    CeCompletion,
    Certification,
    CertificationStatus,
    CeVoid,
    Checkpoint,
    Fact,
    FeePayment,
    OpeningBalance,
    PaymentReversal,
    Projection,
    Reason,
    RecertificationStatus,
    Recertified,
    RecertMethod,
    ReversalWithdrawn,
    SelfReported,
    SelfReportEntry,
    Standing,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.self_report import (
    ActivityCredit,
    CreditReason,
    Source,
    applies_to,
    duplicate_catalog_ids,
    duplicate_of,
    effective_date,
    latest_versions,
    points_of,
    source_of,
)

_F = TypeVar("_F")
_REASON_ORDER = {reason: i for i, reason in enumerate(Reason)}
# R3 at intake for a migrated certification: its opening balance holds what was earned before.
REASON_BEFORE_CUTOVER = "earned before the opening balance's cutover date"


# ---------------------------------------------------------------- fact selection


def visible_facts(facts: Iterable[Fact], as_of: date) -> list[Fact]:
    """Facts recorded on or before ``as_of``, one per (kind, key).

    When a key occurs more than once (a redelivery recorded on a later day), the earliest-recorded
    version wins; ties are broken by content, so the choice never depends on input order.
    """
    chosen: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        if fact.recorded_on > as_of:
            continue
        ident = (fact.kind, fact.key)
        kept = chosen.get(ident)
        if kept is None or _earlier_version(fact, kept):
            chosen[ident] = fact
    return list(chosen.values())


def _earlier_version(fact: Fact, kept: Fact) -> bool:
    if fact.recorded_on != kept.recorded_on:
        return fact.recorded_on < kept.recorded_on
    return fact.model_dump_json() < kept.model_dump_json()


def _of_type(facts: Iterable[Fact], kind: type[_F]) -> list[_F]:
    return [f for f in facts if isinstance(f, kind)]


def same_credential(a: str, b: str, policy: RulesPolicy | None) -> bool:
    if policy is not None:
        ca, cb = policy.canonical_code(a), policy.canonical_code(b)
        if ca is not None or cb is not None:
            return ca == cb
    return a.strip().upper() == b.strip().upper()


def effective_certified_on(
    cert: Certification, facts: Sequence[Fact], as_of: date, policy: RulesPolicy | None = None
) -> date:
    """Start of the current epoch: the roster date, or the latest recertification of this credential
    in force on ``as_of`` (``recertified_from``), whichever is later. ``policy`` resolves aliases
    (``MT`` = ``MLS``); without it credential codes are compared case-insensitively."""
    recertified = [
        start
        for f in _of_type(facts, Recertified)
        if same_credential(f.credential, cert.credential, policy)
        and (start := recertified_from(f, facts, as_of)) is not None
    ]
    return max([cert.certified_on, *recertified])


def opening_balance(
    cert: Certification, facts: Sequence[Fact], as_of: date, policy: RulesPolicy | None = None
) -> OpeningBalance | None:
    """The opening balance the current epoch continues from: this credential's, known on ``as_of``,
    with a cutover on or after the epoch start (a recertification after the cutover starts an epoch
    that owes nothing to it). None for a certification with its whole history in this system."""
    visible = visible_facts(facts, as_of)
    start = effective_certified_on(cert, visible, as_of, policy)
    found = [
        f
        for f in _of_type(visible, OpeningBalance)
        if same_credential(f.credential, cert.credential, policy) and f.cutover_on >= start
    ]
    return max(found, key=lambda f: (f.cutover_on, f.model_dump_json()), default=None)


def _credits_on_cycle_start(
    key_prefix: str, points: Mapping[Category, Decimal], cycle_start: date, recorded_on: date
) -> list[CreditedActivity]:
    """Points carried over as one activity per category, completed on the cycle's first day and
    recorded on ``recorded_on`` (so R3's cycle window, R5's recording limit and the employment
    cut-off treat them like any other completion, and they count for that cycle only)."""
    return [
        CreditedActivity(
            key=f"{key_prefix}#{category.value}",
            completed_on=cycle_start,
            recorded_on=recorded_on,
            points=category_points,
            category=category,
        )
        for category, category_points in points.items()
        if category_points
    ]


def _checkpoint_credits(checkpoint: Checkpoint) -> list[tuple[Source, CreditedActivity]]:
    """The checkpoint's points of its cycle, one activity per source and category, recorded on the
    checkpoint's day."""
    return [
        (Source(source), credit)
        for source, by_category in checkpoint.points.items()
        for credit in _credits_on_cycle_start(
            f"checkpoint#{source}", by_category, checkpoint.cycle_start, checkpoint.through
        )
    ]


def _opening_credits(balance: OpeningBalance) -> list[CreditedActivity]:
    """The balance's points, recorded on its cutover day."""
    return _credits_on_cycle_start("opening_balance", balance.points, balance.cycle_start, balance.cutover_on)


def recertified_from(fact: Recertified, facts: Sequence[Fact], as_of: date) -> date | None:
    """The day a completed recertification is in force from, as known on ``as_of``; None when it is not.

    It stands while its fee is paid: a refund or lost dispute of the recertification fee recorded
    after completion takes it out of force (the certification is lapsed again, from its earlier
    lapse); once the fee is fully paid again (a dispute won, a new payment) it is in force from that
    day - the date an application still open would have completed on, so the order in which the
    completion and the reversal arrived does not change the outcome. ``fee_cents`` 0: no fee condition.
    """
    if fact.recorded_on > as_of or fact.completed_on > as_of:
        return None
    if fact.fee_cents == 0:
        return fact.completed_on
    paid_since = fee_paid_since(facts, fact.application_id, fact.fee_cents, as_of)
    return None if paid_since is None else max(fact.completed_on, paid_since)


def fee_paid_cents(facts: Sequence[Fact], application_id: str, as_of: date) -> int:
    """Effective recertification payments for ``application_id`` known on ``as_of``."""
    visible = visible_facts(facts, as_of)
    payments = [
        f
        for f in _of_type(visible, FeePayment)
        if f.purpose == "recertification" and f.application_id == application_id
    ]
    effective = effective_payment_keys(
        payments, _of_type(visible, PaymentReversal), _of_type(visible, ReversalWithdrawn), as_of
    )
    return sum(p.amount_cents for p in payments if p.key in effective)


def fee_paid_since(facts: Sequence[Fact], application_id: str, fee_cents: int, as_of: date) -> date | None:
    """The day the application's fee last became fully paid (payments, reversals and dispute
    outcomes counted by the day they were recorded), or None if it is not fully paid on ``as_of``."""
    changes = sorted(
        {
            f.recorded_on
            for f in facts
            if f.recorded_on <= as_of
            and (
                (isinstance(f, FeePayment) and f.application_id == application_id)
                or isinstance(f, PaymentReversal | ReversalWithdrawn)
            )
        }
    )
    since: date | None = None
    for day in changes:
        paid = fee_paid_cents(facts, application_id, day) >= fee_cents
        if not paid:
            since = None
        elif since is None:
            since = day
    return since


def effective_payment_keys(
    payments: Iterable[FeePayment],
    reversals: Iterable[PaymentReversal],
    withdrawals: Iterable[ReversalWithdrawn],
    known_on: date,
) -> set[str]:
    """Keys of payments recorded by ``known_on`` that no reversal known by then uncredits.

    A reversal stops applying once a ``ReversalWithdrawn`` for it (a dispute won) is known.
    """
    withdrawn = {w.reversal_key for w in withdrawals if w.recorded_on <= known_on}
    reversed_keys = {r.payment_key for r in reversals if r.recorded_on <= known_on and r.key not in withdrawn}
    return {p.key for p in payments if p.recorded_on <= known_on and p.key not in reversed_keys}


def unmapped_activity_ids(facts: Sequence[Fact]) -> set[str]:
    """Activity ids of CE completions that still need the catalog (points or category missing)."""
    return {f.activity_id for f in _of_type(facts, CeCompletion) if f.points is None or f.category is None}


def catalog_ids_needed(facts: Sequence[Fact]) -> set[str]:
    """Every catalog entry ``evaluate`` needs for these facts: unmapped completions, and other sources'
    completions on the day of a self-reported entry (their title and provider tell a duplicate)."""
    return unmapped_activity_ids(facts) | duplicate_catalog_ids(facts)


def _credit(
    completions: Iterable[CeCompletion], catalog: Mapping[str, ActivitySpec] | None
) -> list[CreditedActivity]:
    """Resolve points/category: the completion's own values, else the catalog's; unresolved → 0."""
    credited: list[CreditedActivity] = []
    for c in completions:
        spec = (catalog or {}).get(c.activity_id)
        points = c.points if c.points is not None else (spec.points if spec else None)
        category = c.category if c.category is not None else (spec.category if spec else None)
        if points is None or category is None:
            continue
        credited.append(
            CreditedActivity(
                key=c.key,
                completed_on=c.completed_on,
                recorded_on=c.recorded_on,
                points=points,
                category=category,
            )
        )
    return credited


# ---------------------------------------------------------------- per-epoch evaluation


def _epoch_origin(
    cert: Certification,
    facts: Sequence[Fact],
    as_of: date,
    policy: RulesPolicy,
    checkpoint: Checkpoint | None,
) -> tuple[list[Fact], date, OpeningBalance | None, date]:
    """The facts an epoch evaluates, its start, its opening balance and the day before which nothing
    counts. From a checkpoint: only the facts recorded after its day (its caller checked with
    ``shared.rules.checkpoint.continues`` that none reaches behind it)."""
    visible = visible_facts(facts, as_of)
    if checkpoint is not None:
        later = [f for f in visible if f.recorded_on > checkpoint.through]
        return later, checkpoint.start, None, day_after(checkpoint.through)
    start = effective_certified_on(cert, visible, as_of, policy)
    opening = opening_balance(cert, visible, as_of, policy)
    # Nothing before an opening balance's cutover counts: the balance is that history.
    return visible, start, opening, opening.cutover_on if opening else start


def _earliest(pairs: Iterable[tuple[str, date]]) -> dict[str, date]:
    """Each key with the earliest of its dates."""
    earliest: dict[str, date] = {}
    for key, day in pairs:
        if key not in earliest or day < earliest[key]:
            earliest[key] = day
    return earliest


class _Epoch:
    """The facts of one certification epoch, already filtered to what is visible on ``as_of``."""

    def __init__(
        self,
        cert: Certification,
        facts: Sequence[Fact],
        as_of: date,
        policy: RulesPolicy,
        catalog: Mapping[str, ActivitySpec] | None,
        *,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.policy = policy
        self.as_of = as_of
        self.spec = policy.credential(cert.credential)
        code = self.spec.code
        visible, self.start, self.opening, self.floor = _epoch_origin(cert, facts, as_of, policy, checkpoint)
        self.checkpoint = checkpoint
        start = self.floor

        def mine(credential: str) -> bool:
            return same_credential(credential, code, policy)

        self.payments = [
            p
            for p in _of_type(visible, FeePayment)
            if mine(p.credential) and p.purpose == "annual_fee" and p.paid_on >= start
        ]
        self.reversals = _of_type(visible, PaymentReversal)
        self.withdrawals = _of_type(visible, ReversalWithdrawn)
        self.catalog = catalog
        self.all_completions = _of_type(visible, CeCompletion)
        self.completions = [c for c in self.all_completions if c.completed_on >= start]
        opening_credits = _opening_credits(self.opening) if self.opening else []
        carried = _checkpoint_credits(checkpoint) if checkpoint else []
        self.credited = _credit(self.completions, catalog) + opening_credits + [a for _, a in carried]
        self.sources = (
            {c.key: source_of(c) for c in self.completions}
            | {a.key: Source.OPENING_BALANCE for a in opening_credits}
            | {a.key: source for source, a in carried}
        )
        self.reports = _of_type(visible, SelfReported)
        self.already_paid = fees_covered(self.start, self.opening.paid_through) if self.opening else 0
        self.paid_before = frozenset(checkpoint.fees_paid) if checkpoint else frozenset()
        # cycles before this one are settled: their outcome is in the balance or checkpoint
        settled = checkpoint or self.opening
        self.settled_before = settled.cycle_start if settled else None
        self.cutover_on = settled.cutover_on if settled else None
        self.void_known_from = _earliest((v.completion_key, v.recorded_on) for v in _of_type(visible, CeVoid))
        self.drawn = [a for a in _of_type(visible, AuditDrawn) if mine(a.credential) and a.drawn_on >= start]
        self.decided = [d for d in _of_type(visible, AuditDecided) if mine(d.credential)]
        # self-reported activity id -> the day the first audit decision disallowing it was recorded
        self.disallowed_from = _earliest((a, d.recorded_on) for d in self.decided for a in d.disallowed)
        self.mandatory = self.start >= policy.ccp_mandatory_from
        self.required = self.spec.ccp_points

    # -- CCP

    def tally(self, cycle: Cycle, known_on: date) -> Tally:
        """Cycle tally from activities completed and recorded by ``known_on`` and not voided by then,
        from every source together (so category caps apply across sources)."""
        return tally((a for _, a in self.counted(cycle, known_on)), cycle, self.policy)

    def counted(self, cycle: Cycle, known_on: date) -> list[tuple[Source, CreditedActivity]]:
        """The activities that count for ``cycle`` as known on ``known_on``, with their source."""
        once = superseded(self.live_completions(known_on))
        found = [
            (self.sources[a.key], a)
            for a in self.credited
            if a.recorded_on <= known_on
            and a.completed_on <= known_on
            and not self._voided(a.key, known_on)
            and a.key not in once
        ]
        found += [(Source.SELF_REPORTED, a) for a in self.self_credits(cycle, known_on)]
        return [(source, a) for source, a in found if counts_for_cycle(a, cycle, self.policy)]

    def live_completions(self, known_on: date) -> list[CeCompletion]:
        return [
            c for c in self.all_completions if c.recorded_on <= known_on and not self._voided(c.key, known_on)
        ]

    def self_credits(self, cycle: Cycle, known_on: date) -> list[CreditedActivity]:
        """Self-reported activities (newest version by ``known_on``) that may count for this
        certification, with their points for ``cycle``; duplicates of another source's credit and
        withdrawn ones are left out."""
        live = self.live_completions(known_on)
        credited: list[CreditedActivity] = []
        for report in latest_versions(self.reports, known_on).values():
            entry = report.entry
            if entry is None or not applies_to(entry, self.spec.code, self.policy):
                continue
            day = effective_date(entry, self.policy)
            if day < self.start or day > known_on or duplicate_of(entry, live, self.catalog) is not None:
                continue
            if self._disallowed(report.activity_id, known_on):
                continue
            credited.append(
                CreditedActivity(
                    key=f"{SELF_REPORT_RECORD}{report.activity_id}",
                    completed_on=day,
                    recorded_on=report.recorded_on,
                    points=points_of(entry, self.policy, cycle),
                    category=entry.category,
                )
            )
        return credited

    # -- per-record explanation (activities list, PUT answer)

    def credits(self) -> dict[str, ActivityCredit]:
        """What every CE record counts for this certification on ``as_of``, and why not."""
        code, as_of = self.spec.code, self.as_of
        found: dict[str, ActivityCredit] = {}
        credited = {a.key: a for a in self.credited}
        once = superseded(self.live_completions(as_of))
        for c in self.all_completions:
            cycle = (
                cycle_containing(self.start, c.completed_on, self.policy)
                if c.completed_on >= self.start
                else None
            )
            reason: CreditReason | None = None
            activity = credited.get(c.key)
            if cycle is None:
                reason = CreditReason.BEFORE_CERTIFICATION
            elif c.completed_on > as_of:
                reason = CreditReason.IN_FUTURE
            elif self._voided(c.key, as_of):
                reason = CreditReason.VOIDED
            elif c.key in once:
                reason = CreditReason.DUPLICATE
            elif activity is None:
                reason = CreditReason.NOT_IN_CATALOG
            else:
                reason = _late_or_cut_off(activity, cycle, self.policy)
            points = activity.points if activity is not None and reason is None else ZERO
            found[f"{CE_RECORD}{c.key}"] = _credit_entry(code, points, reason, cycle)
        live = self.live_completions(as_of)
        for report in latest_versions(self.reports, as_of).values():
            entry = report.entry
            if entry is None:
                continue
            record = f"{SELF_REPORT_RECORD}{report.activity_id}"
            day = effective_date(entry, self.policy)
            if not applies_to(entry, code, self.policy):
                found[record] = _credit_entry(code, ZERO, CreditReason.OTHER_CERTIFICATION, None)
                continue
            if day < self.start:
                found[record] = _credit_entry(code, ZERO, CreditReason.BEFORE_CERTIFICATION, None)
                continue
            cycle = cycle_containing(self.start, day, self.policy)
            duplicate = duplicate_of(entry, live, self.catalog)
            if duplicate is not None:
                other = f"{source_of(duplicate).value}:{duplicate.key}"
                found[record] = _credit_entry(code, ZERO, CreditReason.DUPLICATE, cycle, other)
                continue
            if self._disallowed(report.activity_id, as_of):
                found[record] = _credit_entry(code, ZERO, CreditReason.DISALLOWED, cycle)
                continue
            points = points_of(entry, self.policy, cycle)
            activity = CreditedActivity(
                key=record,
                completed_on=day,
                recorded_on=report.recorded_on,
                points=points,
                category=entry.category,
            )
            reason = _late_or_cut_off(activity, cycle, self.policy)
            if reason is None and entry.category is Category.EMPLOYMENT and points == 0:
                reason = CreditReason.NO_WHOLE_MONTH
            found[record] = _credit_entry(code, points if reason is None else ZERO, reason, cycle)
        return found

    def _disallowed(self, activity_id: str, known_on: date) -> bool:
        known = self.disallowed_from.get(activity_id)
        return known is not None and known <= known_on

    def _voided(self, key: str, known_on: date) -> bool:
        known = self.void_known_from.get(key)
        return known is not None and known <= known_on

    def short(self, cycle: Cycle, known_on: date) -> bool:
        """Short of points - never for a cycle an opening balance or checkpoint settled (ended before
        its cycle)."""
        if self.settled_before is not None and cycle.start < self.settled_before:
            return False
        return self.tally(cycle, known_on).earned < self.required

    # -- R7 lapse conditions: (date the lapse takes effect, reason)

    def fee_lapse(self) -> date | None:
        """R7(a) fee rule: the first day on which the earliest unpaid fee had been overdue
        ``lapse_after_overdue_years``, judged on payments paid before that day and facts recorded
        by it."""
        years = self.policy.lapse_after_overdue_years
        thresholds: list[date] = []
        k = 1
        while (t := add_years(fee_overdue_from(self.start, k), years)) <= self.as_of:
            thresholds.append(t)
            k += 1
        if not thresholds:
            return None
        first = thresholds[0]
        # The predicate can only turn true on a threshold day or on the day a reversal becomes known:
        # time passing otherwise only adds payments, and payments/withdrawals only make it false.
        candidates = set(thresholds)
        candidates.update(r.recorded_on for r in self.reversals)
        if self.opening is not None or self.checkpoint is not None:
            # judged from the cutover on: a threshold passed before it lapses on the cutover day (a
            # checkpoint holds no fee lapse before its day: it would be in its lapse)
            first = max(first, self.floor)
            candidates.add(first)
        for day in sorted(c for c in candidates if first <= c <= self.as_of):
            if self._fee_lapsed_on(day, years):
                return day
        return None

    def _fee_lapsed_on(self, day: date, years: int) -> bool:
        effective = effective_payment_keys(self.payments, self.reversals, self.withdrawals, day)
        paid = paid_fee_numbers(
            [p for p in self.payments if p.key in effective and p.paid_on < day],
            self.start,
            day,
            self.already_paid,
            self.paid_before,
        )
        return add_years(fee_overdue_from(self.start, first_unpaid_fee(paid)), years) <= day

    def ccp_lapse(self) -> date | None:
        """R7(a) CCP rule: the first day after an ended cycle's late window on which that cycle is
        short (points recorded within the window, voids known by that day)."""
        if not self.mandatory:
            return None
        earliest: date | None = None
        n = 1
        while True:
            cycle = cycle_number(self.start, n, self.policy)
            opens = day_after(late_window_end(cycle, self.policy))
            if opens > self.as_of or (earliest is not None and opens >= earliest):
                break
            candidates = {opens} | {d for d in self.void_known_from.values() if opens < d <= self.as_of}
            for day in sorted(candidates):
                if earliest is not None and day >= earliest:
                    break
                if self.short(cycle, day):
                    earliest = day
                    break
            n += 1
        return earliest

    def audit_lapses(self) -> list[tuple[date, Reason]]:
        """R7(c): a failed decision lapses on its decision date; an audit with no decision dated on
        or before its deadline (and recorded by the day after it) lapses the day after the deadline."""
        found: list[tuple[date, Reason]] = [
            (d.decided_on, Reason.AUDIT_FAILED)
            for d in self.decided
            if d.outcome == "failed" and self.floor <= d.decided_on <= self.as_of
        ]
        for audit in self.drawn:
            missed_on = day_after(audit.deadline)
            if missed_on > self.as_of:
                continue
            answered = any(
                d.audit_id == audit.audit_id and d.decided_on <= audit.deadline and d.recorded_on <= missed_on
                for d in self.decided
            )
            if not answered:
                found.append((missed_on, Reason.AUDIT_DEADLINE_MISSED))
        return found

    def lapse(self) -> tuple[date | None, tuple[Reason, ...]]:
        """Earliest lapse date and the reasons that took effect on that day."""
        found = self.audit_lapses()
        opening = self.opening
        if opening is not None and opening.lapsed_on is not None and opening.lapse_reason is not None:
            found.append((opening.lapsed_on, opening.lapse_reason))
        if self.checkpoint is not None and self.checkpoint.lapsed_on is not None:
            found.extend((self.checkpoint.lapsed_on, reason) for reason in self.checkpoint.lapse_reasons)
        fee_day = self.fee_lapse()
        if fee_day is not None:
            found.append((fee_day, Reason.FEE_UNPAID_3_YEARS))
        ccp_day = self.ccp_lapse()
        if ccp_day is not None:
            found.append((ccp_day, Reason.CCP_NOT_DOCUMENTED))
        if not found:
            return None, ()
        lapsed_on = min(day for day, _ in found)
        reasons = sorted({r for day, r in found if day == lapsed_on}, key=_REASON_ORDER.__getitem__)
        return lapsed_on, tuple(reasons)


CE_RECORD = "ce:"
SELF_REPORT_RECORD = "self_report:"


def _late_or_cut_off(activity: CreditedActivity, cycle: Cycle, policy: RulesPolicy) -> CreditReason | None:
    if activity.recorded_on > late_window_end(cycle, policy):
        return CreditReason.RECORDED_LATE
    if activity.category is Category.EMPLOYMENT and activity.completed_on > policy.employment_points_until:
        return CreditReason.EMPLOYMENT_CUT_OFF
    return None


def _credit_entry(
    credential: str,
    points: Decimal,
    reason: CreditReason | None,
    cycle: Cycle | None,
    duplicate: str | None = None,
) -> ActivityCredit:
    return ActivityCredit(
        credential=credential,
        points=points,
        counted=reason is None,
        reason=reason,
        duplicate_of=duplicate,
        cycle_number=cycle.number if cycle else None,
        cycle_start=cycle.start if cycle else None,
        cycle_end=cycle.end if cycle else None,
    )


def _projection(cycle: Cycle, remaining: Decimal, as_of: date, policy: RulesPolicy) -> Projection:
    record_by = late_window_end(cycle, policy)
    left_until = cycle.end if as_of <= cycle.end else record_by
    return Projection(
        points_needed=remaining,
        earn_by=cycle.end,
        record_by=record_by,
        days_left=max(0, (left_until - as_of).days),
    )


def _ccp_status(epoch: _Epoch, cycle: Cycle) -> CcpStatus:
    result = epoch.tally(cycle, epoch.as_of)
    by_source = {source.value: ZERO for source in Source}
    for source, activity in epoch.counted(cycle, epoch.as_of):
        by_source[source.value] += activity.points
    remaining = max(Decimal(0), Decimal(epoch.required) - result.earned)
    return CcpStatus(
        mandatory=epoch.mandatory,
        required=epoch.required,
        cycle_number=cycle.number,
        cycle_start=cycle.start,
        cycle_end=cycle.end,
        earned=result.earned,
        remaining=remaining,
        by_category=result.by_category,
        by_source=by_source,
        projection=_projection(cycle, remaining, epoch.as_of, epoch.policy),
    )


def recertification_paths(lapsed_on: date | None, as_of: date, policy: RulesPolicy) -> RecertificationStatus:
    """R8: lapsed → exam always; CCP too while less than ``ccp_recert_max_lapsed_years`` have passed."""
    if lapsed_on is None:
        return RecertificationStatus(required=False, allowed_methods=())
    if as_of < add_years(lapsed_on, policy.ccp_recert_max_lapsed_years):
        return RecertificationStatus(required=True, allowed_methods=(RecertMethod.CCP, RecertMethod.EXAM))
    return RecertificationStatus(required=True, allowed_methods=(RecertMethod.EXAM,))


def evaluate(
    cert: Certification,
    facts: Sequence[Fact],
    as_of: date,
    policy: RulesPolicy,
    catalog: Mapping[str, ActivitySpec] | None = None,
    *,
    checkpoint: Checkpoint | None = None,
) -> CertificationStatus:
    """The certification's status on ``as_of`` (R1-R8). Raises KeyError for an unknown credential.

    With a ``checkpoint`` (dated before ``as_of``), only the facts recorded after it are used; the
    caller checks with ``shared.rules.checkpoint.continues`` that none of them reaches behind it."""
    epoch = _Epoch(cert, facts, as_of, policy, catalog, checkpoint=checkpoint)
    effective = effective_payment_keys(epoch.payments, epoch.reversals, epoch.withdrawals, as_of)
    fees = fee_status(
        epoch.start,
        epoch.spec.annual_fee_cents_on,
        [p for p in epoch.payments if p.key in effective],
        as_of,
        epoch.already_paid,
        paid_before=epoch.paid_before,
    )

    # R5: while the late window of the just-ended cycle is open and it is short, report that cycle.
    ended = previous_cycle_in_window(epoch.start, as_of, policy)
    ended_short = ended is not None and epoch.short(ended, as_of)
    shown = ended if ended is not None and ended_short else current_cycle(epoch.start, as_of, policy)
    ccp = _ccp_status(epoch, shown)

    lapsed_on, lapse_reasons = epoch.lapse()
    if lapsed_on is not None:
        standing, reasons = Standing.LAPSED, lapse_reasons
    else:
        pending: list[Reason] = []
        if fees.overdue_since is not None:
            pending.append(Reason.FEE_OVERDUE)
        if ended_short and epoch.mandatory:
            pending.append(Reason.CCP_INCOMPLETE)
        standing = Standing.DELINQUENT if pending else Standing.ACTIVE
        reasons = tuple(pending)

    return CertificationStatus(
        credential=cert.credential,
        status=standing,
        reasons=reasons,
        certified_on=epoch.start,
        fees=fees,
        ccp=ccp,
        recertification=recertification_paths(lapsed_on, as_of, policy),
        lapsed_on=lapsed_on,
        cutover_on=epoch.cutover_on,
    )


def standing_history(  # noqa: PLR0917 - evaluate's arguments with a date range
    cert: Certification,
    facts: Sequence[Fact],
    first: date,
    last: date,
    policy: RulesPolicy,
    catalog: Mapping[str, ActivitySpec] | None = None,
    *,
    checkpoint: Checkpoint | None = None,
) -> list[tuple[date, CertificationStatus]]:
    """The standing from ``first`` through ``last``: the status on ``first``, then the status on each
    later day whose standing differs from the day before, in date order (the last entry is the
    status on ``last`` when nothing changed on that day; ``evaluate(..., last)`` is the final one).
    With a ``checkpoint`` (dated before ``first``), each day is evaluated from it, as ``evaluate`` does.

    Each day is judged as ``evaluate`` judges it - on the facts recorded by that day - so it is the
    history that daily runs on each of those days would have seen: a certification that lapses,
    comes back and lapses again between ``first`` and ``last`` has all three changes. One
    evaluation per day: a catch-up over a long gap costs CPU, never a read.
    """
    history: list[tuple[date, CertificationStatus]] = []
    day = first
    while day <= last:
        status = evaluate(cert, facts, day, policy, catalog, checkpoint=checkpoint)
        if not history or status.status is not history[-1][1].status:
            history.append((day, status))
        elif day == last:
            history[-1] = (history[-1][0], status)  # same standing: its latest figures
        day += timedelta(days=1)
    return history


def decide_activity(  # noqa: PLR0917 - public signature fixed by callers
    cert: Certification,
    facts: Sequence[Fact],
    completed_on: date,
    category: Category,
    as_of: date,
    policy: RulesPolicy,
) -> ActivityDecision:
    """R3: does an activity completed on ``completed_on`` count when reported on ``as_of``?

    The cycle being reported is the current one, or the just-ended one while R5's window is open.
    Checks, in order: completed after ``as_of``; before the reporting cycle's start (which covers
    "before the certification date"); employment after the employment cut-off; before the cutover
    of the opening balance the certification continues from.

    The reporting cycle is the one known at the end of the previous recording day: a
    recertification (or its fee) recorded on ``as_of`` itself does not move it. Deliveries of one
    day arrive in any order, and a completion must be accepted or refused the same way whether a
    same-day exam pass came before it or after it; which cycle an accepted activity then counts
    for is decided on every fact (``activity_credits``).
    """
    start = effective_certified_on(cert, visible_facts(facts, day_before(as_of)), as_of, policy)
    reason, cycle = activity_rejection(start, completed_on, Category(category), as_of, policy)
    opening = opening_balance(cert, facts, as_of, policy)
    if reason is None and opening is not None and completed_on < opening.cutover_on:
        reason = REASON_BEFORE_CUTOVER
    return ActivityDecision(accepted=reason is None, reason=reason, cycle_start=cycle.start)


def activity_credits(
    cert: Certification,
    facts: Sequence[Fact],
    as_of: date,
    policy: RulesPolicy,
    catalog: Mapping[str, ActivitySpec] | None = None,
) -> dict[str, ActivityCredit]:
    """What each CE record counts for this certification on ``as_of`` (keyed ``ce:{fact key}`` or
    ``self_report:{activity_id}``): points before category caps, counted or not and why, its cycle."""
    return _Epoch(cert, facts, as_of, policy, catalog).credits()


def decide_self_report(
    cert: Certification, facts: Sequence[Fact], entry: SelfReportEntry, as_of: date, policy: RulesPolicy
) -> ActivityDecision:
    """R3 at intake for a self-reported entry: as ``decide_activity`` on its effective date (an
    employment period counts up to the cut-off), and not for a certification the member excluded."""
    if not applies_to(entry, cert.credential, policy):
        return ActivityDecision(accepted=False, reason=CreditReason.OTHER_CERTIFICATION.value)
    return decide_activity(cert, facts, effective_date(entry, policy), entry.category, as_of, policy)


def change_closed_since(
    cert: Certification, facts: Sequence[Fact], entry: SelfReportEntry, as_of: date, policy: RulesPolicy
) -> date | None:
    """When the entry counts in a cycle of this certification whose R5 window has ended by
    ``as_of``: the window's last day (changing or withdrawing it is refused). Else None."""
    if not applies_to(entry, cert.credential, policy):
        return None
    start = effective_certified_on(cert, visible_facts(facts, as_of), as_of, policy)
    day = effective_date(entry, policy)
    if day < start:
        return None
    record_by = late_window_end(cycle_containing(start, day, policy), policy)
    return record_by if as_of > record_by else None


def cycle_points(
    cert: Certification,
    facts: Sequence[Fact],
    day: date,
    as_of: date,
    policy: RulesPolicy,
    *,
    catalog: Mapping[str, ActivitySpec] | None = None,
) -> tuple[Decimal, int]:
    """(points earned, points required) of the certification's cycle containing ``day``, as known on
    ``as_of`` (an audit checks the audited cycle after disallowing activities)."""
    epoch = _Epoch(cert, facts, as_of, policy, catalog)
    cycle = cycle_containing(epoch.start, max(day, epoch.start), policy)
    return epoch.tally(cycle, as_of).earned, epoch.required
