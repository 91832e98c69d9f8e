"""Properties of evaluate(): a function of the SET of facts, and lapse is sticky over time."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from rules_helpers import POLICY, activity, make_policy

from shared.rules.cycles import cycle_number, late_window_end
from shared.rules.dates import add_years
from shared.rules.fees import fee_due_month, fee_overdue_from
from shared.rules.models import (
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    Certification,
    CertificationStatus,
    CeVoid,
    Fact,
    FeePayment,
    PaymentReversal,
    Recertified,
    RecertMethod,
    ReversalWithdrawn,
    Standing,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.status import _Epoch, decide_activity, evaluate
from tests.tiers import sampled_settings

LO, HI = date(2003, 1, 1), date(2026, 12, 31)
CREDENTIALS = st.sampled_from(["RMA", "AHI"])
CATALOG = {"known": activity("known", 10), "course30": activity("course30", 30)}
# Small key pools so that reversals, withdrawals, voids and decisions hit existing facts.
PAYMENT_KEYS = st.sampled_from([f"p{i}" for i in range(6)])
REVERSAL_KEYS = st.sampled_from([f"r{i}" for i in range(3)])
CE_KEYS = st.sampled_from([f"c{i}" for i in range(6)])
AUDIT_IDS = st.sampled_from(["a0", "a1"])


@st.composite
def event_and_recorded(draw: st.DrawFn) -> tuple[date, date]:
    """An event date and the day it was recorded: usually the same day or a little later."""
    event = draw(st.dates(min_value=LO, max_value=HI))
    delay = draw(st.one_of(st.just(0), st.integers(0, 120), st.integers(-5, 2000)))
    return event, min(HI, max(LO, event + timedelta(days=delay)))


@st.composite
def payments(draw: st.DrawFn) -> FeePayment:
    paid, rec = draw(event_and_recorded())
    return FeePayment(
        key=draw(PAYMENT_KEYS),
        recorded_on=rec,
        credential=draw(CREDENTIALS),
        purpose=draw(st.sampled_from(["annual_fee", "annual_fee", "recertification"])),
        paid_on=paid,
        amount_cents=5000,
    )


@st.composite
def reversals(draw: st.DrawFn) -> PaymentReversal:
    on, rec = draw(event_and_recorded())
    return PaymentReversal(
        key=draw(REVERSAL_KEYS),
        recorded_on=rec,
        payment_key=draw(PAYMENT_KEYS),
        reason=draw(st.sampled_from(["refund", "dispute"])),
        reversed_on=on,
    )


@st.composite
def withdrawals(draw: st.DrawFn) -> ReversalWithdrawn:
    on, rec = draw(event_and_recorded())
    return ReversalWithdrawn(
        key=f"w-{draw(st.integers(0, 3))}", recorded_on=rec, reversal_key=draw(REVERSAL_KEYS), withdrawn_on=on
    )


@st.composite
def completions(draw: st.DrawFn) -> CeCompletion:
    done, rec = draw(event_and_recorded())
    mapped = draw(st.booleans())
    return CeCompletion(
        key=draw(CE_KEYS),
        recorded_on=rec,
        activity_id=draw(st.sampled_from(["known", "unknown"])),
        completed_on=done,
        points=Decimal(draw(st.integers(0, 40))) if mapped else None,
        category=draw(st.sampled_from(list(Category))) if mapped else None,
    )


@st.composite
def voids(draw: st.DrawFn) -> CeVoid:
    rec = draw(st.dates(min_value=LO, max_value=HI))
    return CeVoid(key=f"v-{draw(st.integers(0, 3))}", recorded_on=rec, completion_key=draw(CE_KEYS))


@st.composite
def audits_drawn(draw: st.DrawFn) -> AuditDrawn:
    on, rec = draw(event_and_recorded())
    audit_id = draw(AUDIT_IDS)
    return AuditDrawn(
        key=f"drawn-{audit_id}",
        recorded_on=rec,
        audit_id=audit_id,
        credential=draw(CREDENTIALS),
        cycle_start=on,
        cycle_end=on,
        drawn_on=on,
        deadline=on + timedelta(days=60),
        seed="s",
    )


@st.composite
def audits_decided(draw: st.DrawFn) -> AuditDecided:
    on, rec = draw(event_and_recorded())
    return AuditDecided(
        key=f"dec-{draw(st.integers(0, 3))}",
        recorded_on=rec,
        audit_id=draw(AUDIT_IDS),
        credential=draw(CREDENTIALS),
        outcome=draw(st.sampled_from(["passed", "failed"])),
        decided_on=on,
    )


@st.composite
def recertifications(draw: st.DrawFn) -> Recertified:
    on, rec = draw(event_and_recorded())
    return Recertified(
        key=f"rc-{draw(st.integers(0, 2))}",
        recorded_on=rec,
        credential=draw(CREDENTIALS),
        completed_on=on,
        method=draw(st.sampled_from(list(RecertMethod))),
        application_id="app",
    )


NON_RECERT_FACTS = st.one_of(
    payments(), reversals(), withdrawals(), completions(), voids(), audits_drawn(), audits_decided()
)
ANY_FACT = st.one_of(NON_RECERT_FACTS, recertifications())
CERTS = st.builds(
    Certification,
    credential=CREDENTIALS,
    certified_on=st.dates(min_value=date(2003, 1, 1), max_value=date(2016, 12, 31)),
)
AS_OF = st.dates(min_value=date(2003, 1, 1), max_value=HI)
POLICIES = st.sampled_from(
    [POLICY, make_policy(category_caps={Category.EMPLOYMENT: Decimal(8)}, late_reporting_days=30)]
)

# A sample in `make test`, the full 200 examples in `make test-slow` (tests/tiers.py).
SETTINGS = sampled_settings(full=200, fast=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_consistent(status: CertificationStatus) -> None:
    """Shape invariants every status must satisfy."""
    lapsed = status.status is Standing.LAPSED
    assert lapsed == (status.lapsed_on is not None) == status.recertification.required
    assert (status.status is Standing.ACTIVE) == (status.reasons == ())
    assert sum(status.ccp.by_category.values()) == status.ccp.earned
    assert status.ccp.remaining == max(Decimal(0), status.ccp.required - status.ccp.earned)
    assert status.ccp.cycle_start <= status.ccp.cycle_end


@SETTINGS
@given(
    cert=CERTS,
    facts=st.lists(ANY_FACT, max_size=20),
    as_of=AS_OF,
    policy=POLICIES,
    data=st.data(),
)
def test_evaluate_depends_only_on_the_set_of_facts(
    cert: Certification, facts: list[Fact], as_of: date, policy: RulesPolicy, data: st.DataObject
) -> None:
    """Permuting, duplicating, or adding facts recorded after ``as_of`` never changes the status."""
    expected = evaluate(cert, facts, as_of, policy, CATALOG)
    _assert_consistent(expected)
    duplicates = data.draw(st.lists(st.sampled_from(facts), max_size=10)) if facts else []
    later = data.draw(st.lists(ANY_FACT, max_size=3))
    future = [
        f.model_copy(update={"recorded_on": as_of + timedelta(days=1 + i)}) for i, f in enumerate(later)
    ]
    shuffled = data.draw(st.permutations([*facts, *duplicates, *future]))
    assert evaluate(cert, shuffled, as_of, policy, CATALOG) == expected
    assert evaluate(cert, tuple(reversed(facts)), as_of, policy, CATALOG) == expected


def _payment(key: str, paid: date, recorded: date) -> FeePayment:
    return FeePayment(
        key=key, recorded_on=recorded, credential="RMA", purpose="annual_fee", paid_on=paid, amount_cents=5000
    )


def _fee_lapse_day(start: date, k: int) -> date:
    return add_years(fee_overdue_from(start, k), POLICY.lapse_after_overdue_years)


NEAR = st.integers(-40, 40)  # days either side of a threshold
AROUND = st.one_of(st.integers(-30, -1), st.integers(0, 30))  # before / on-or-after a threshold, evenly
DELAY = st.one_of(st.just(0), st.integers(0, 60))  # recording delay


@st.composite
def timelines(draw: st.DrawFn) -> tuple[Certification, list[Fact], list[date]]:
    """A compliant member history (fees paid on time, CE recorded promptly each cycle; no
    recertification) with 1-2 perturbations placed around the lapse thresholds, and the days around
    which they can change the status.

    Perturbations: fees stop at fee k, and fee k is paid (and recorded) around its lapse day,
    possibly disputed and the dispute won around it; a cycle's points recorded around the end of its
    late window; a void recorded around it; an audit decided (and recorded) around its deadline.
    """
    start = draw(st.dates(min_value=date(2003, 1, 1), max_value=date(2016, 12, 31)))
    cert = Certification(credential="RMA", certified_on=start)
    fees = {k: _payment(f"p{k}", fee_due_month(start, k), fee_due_month(start, k)) for k in range(1, 26)}
    ce: dict[int, CeCompletion] = {}
    for n in range(1, 10):
        done = cycle_number(start, n, POLICY).start + timedelta(days=100)
        ce[n] = CeCompletion(
            key=f"c{n}",
            recorded_on=done,
            # a full cycle's points, explicit or from the catalog; rarely an activity the catalog lacks
            activity_id=draw(st.sampled_from(["course30"] * 10 + ["unknown"])),
            completed_on=done,
            points=draw(st.sampled_from([None, Decimal(30)])),
            category=Category.PROFESSIONAL_EDUCATION,
        )
    extra: list[Fact] = []
    hot: list[date] = []
    for i in range(draw(st.integers(1, 2))):
        change = draw(st.sampled_from(["fees_stop", "ce_late", "void", "audit"]))
        k = draw(st.integers(1, 7))
        if change == "fees_stop":
            lapse_day = _fee_lapse_day(start, k)
            hot.append(lapse_day)
            for later in range(k, 26):
                fees.pop(later, None)
            if draw(st.integers(0, 3)):
                paid = lapse_day + timedelta(days=draw(AROUND))
                fees[k] = _payment(f"p{k}", paid, paid + timedelta(days=draw(DELAY)))
                hot.append(fees[k].recorded_on)
                if draw(st.booleans()):
                    on = lapse_day + timedelta(days=draw(AROUND))
                    extra.append(
                        PaymentReversal(
                            key=f"r{i}", recorded_on=on, payment_key=f"p{k}", reason="dispute", reversed_on=on
                        )
                    )
                    hot.append(on)
                    if draw(st.integers(0, 2)):
                        won = on + timedelta(days=draw(st.integers(1, 60)))
                        extra.append(
                            ReversalWithdrawn(
                                key=f"w{i}", recorded_on=won, reversal_key=f"r{i}", withdrawn_on=won
                            )
                        )
                        hot.append(won)
        elif change == "ce_late":
            cycle = cycle_number(start, k, POLICY)
            window_over = cycle.end + timedelta(days=POLICY.late_reporting_days + 1)
            done = cycle.end - timedelta(days=draw(st.integers(0, 30)))
            ce[k] = ce[k].model_copy(
                update={"completed_on": done, "recorded_on": window_over + timedelta(days=draw(NEAR))}
            )
            hot += [window_over, ce[k].recorded_on]
        elif change == "void":
            cycle = cycle_number(start, k, POLICY)
            voided = cycle.end + timedelta(days=POLICY.late_reporting_days + draw(NEAR))
            extra.append(CeVoid(key=f"v{i}", recorded_on=voided, completion_key=f"c{k}"))
            hot.append(voided)
        elif change == "audit":
            on = cycle_number(start, k, POLICY).start + timedelta(days=draw(st.integers(0, 1000)))
            deadline = on + timedelta(days=60)
            hot.append(deadline + timedelta(days=1))
            extra.append(
                AuditDrawn(
                    key=f"drawn{i}",
                    recorded_on=on,
                    audit_id=f"a{i}",
                    credential="RMA",
                    cycle_start=on,
                    cycle_end=on,
                    drawn_on=on,
                    deadline=deadline,
                    seed="s",
                )
            )
            if draw(st.integers(0, 3)):
                decided_on = deadline + timedelta(days=draw(st.integers(-3, 1)))
                missed_on = deadline + timedelta(days=1)
                extra.append(
                    AuditDecided(
                        key=f"decided{i}",
                        recorded_on=max(decided_on, missed_on + timedelta(days=draw(st.integers(-2, 2)))),
                        audit_id=f"a{i}",
                        credential="RMA",
                        outcome=draw(st.sampled_from(["passed", "passed", "passed", "failed"])),
                        decided_on=decided_on,
                    )
                )
                hot.append(extra[-1].recorded_on)
    return cert, [*fees.values(), *ce.values(), *extra], hot


def _assert_never_unlapses(cert: Certification, facts: list[Fact], days: list[date]) -> None:
    """Along increasing as_of: once lapsed, always lapsed, and the lapse date never moves later."""
    lapsed_on: date | None = None
    for day in sorted(set(days)):
        status = evaluate(cert, facts, day, POLICY, CATALOG)
        _assert_consistent(status)
        assert (status.lapsed_on is None) or status.lapsed_on <= day
        if lapsed_on is not None:
            assert status.status is Standing.LAPSED, f"un-lapsed on {day} (lapsed on {lapsed_on})"
            assert status.lapsed_on is not None
            assert status.lapsed_on <= lapsed_on
        if status.status is Standing.LAPSED:
            lapsed_on = status.lapsed_on


@SETTINGS
@given(history=timelines(), extra_days=st.lists(AS_OF, max_size=3))
def test_lapse_is_sticky_without_recertification(
    history: tuple[Certification, list[Fact], list[date]], extra_days: list[date]
) -> None:
    cert, facts, hot = history
    days = [h + timedelta(days=delta) for h in hot for delta in (-1, 0, 1)]
    _assert_never_unlapses(cert, facts, [*days, *extra_days])


@SETTINGS
@given(
    cert=CERTS, facts=st.lists(NON_RECERT_FACTS, max_size=20), days=st.lists(AS_OF, min_size=2, max_size=6)
)
def test_lapse_is_sticky_for_arbitrary_facts(
    cert: Certification, facts: list[Fact], days: list[date]
) -> None:
    near_recorded = [f.recorded_on + timedelta(days=delta) for f in facts[:5] for delta in (-1, 0)]
    _assert_never_unlapses(cert, facts, [*days, *near_recorded])


@SETTINGS
@given(history=timelines(), data=st.data())
def test_redelivered_and_reordered_history_gives_the_same_status(
    history: tuple[Certification, list[Fact], list[date]], data: st.DataObject
) -> None:
    """Realistic histories plus redeliveries (same key recorded again later, or a second void of the
    same completion): the status at days near every threshold is unchanged by order and copies."""
    cert, facts, hot = history
    redelivered = [
        f.model_copy(update={"recorded_on": f.recorded_on + timedelta(days=delta)})
        for f, delta in data.draw(st.lists(st.tuples(st.sampled_from(facts), st.integers(1, 30)), max_size=6))
    ]
    voids = [f for f in facts if isinstance(f, CeVoid)]
    deltas = data.draw(st.lists(st.integers(-60, 60), min_size=len(voids), max_size=len(voids)))
    second_voids = [
        CeVoid(
            key=f"again-{v.key}",
            recorded_on=v.recorded_on + timedelta(days=delta),
            completion_key=v.completion_key,
        )
        for v, delta in zip(voids, deltas, strict=True)
    ]
    shuffled = data.draw(st.permutations([*facts, *redelivered, *second_voids]))
    originals = [*reversed(facts), *second_voids]
    days = {*hot, *(f.recorded_on for f in [*redelivered, *second_voids])}
    for day in sorted(days):
        assert evaluate(cert, shuffled, day, POLICY, CATALOG) == evaluate(
            cert, [*originals, *reversed(redelivered)], day, POLICY, CATALOG
        )


@sampled_settings(full=20, fast=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.one_of(
        timelines().map(lambda t: (t[0], t[1])), st.tuples(CERTS, st.lists(NON_RECERT_FACTS, max_size=15))
    ),
    as_of=st.dates(min_value=date(2008, 1, 1), max_value=date(2028, 12, 31)),
)
def test_lapse_search_matches_a_day_by_day_oracle(
    history: tuple[Certification, list[Fact]], as_of: date
) -> None:
    """The fee and CCP lapse dates (found by checking only the days a condition can turn true) equal
    the first day, walking day by day from the certification date, on which the condition holds."""
    cert, facts = history
    epoch = _Epoch(cert, facts, as_of, POLICY, CATALOG)
    years = POLICY.lapse_after_overdue_years
    fee_day = ccp_day = None
    day = epoch.start
    while day <= as_of and (fee_day is None or ccp_day is None):
        if fee_day is None and epoch._fee_lapsed_on(day, years):
            fee_day = day
        if ccp_day is None and epoch.mandatory:
            ended = [
                c
                for c in (cycle_number(epoch.start, n, POLICY) for n in range(1, 12))
                if late_window_end(c, POLICY) < day
            ]
            if any(epoch.short(c, day) for c in ended):
                ccp_day = day
        day += timedelta(days=1)
    assert epoch.fee_lapse() == fee_day
    assert epoch.ccp_lapse() == ccp_day


@SETTINGS
@given(
    cert=CERTS,
    facts=st.lists(ANY_FACT, max_size=20),
    category=st.sampled_from(list(Category)),
    as_of=AS_OF,
    policy=POLICIES,
    data=st.data(),
)
def test_r3_at_intake_does_not_depend_on_facts_recorded_the_same_day(
    cert: Certification,
    facts: list[Fact],
    category: Category,
    as_of: date,
    policy: RulesPolicy,
    data: st.DataObject,
) -> None:
    """Whatever else reaches us on ``as_of`` (an exam pass, its fee, a refund), before or after a
    completion, the completion is accepted or refused the same way: one day's deliveries arrive in
    any order. Completions and recertifications are drawn mostly in the weeks before ``as_of``,
    where a same-day recertification would move the cycle's start past the completion."""
    recent = st.integers(0, 90).map(lambda days: as_of - timedelta(days=days))
    completed_on = data.draw(st.one_of(recent, st.dates(min_value=LO, max_value=HI)))
    exams = st.builds(
        Recertified,
        key=st.sampled_from(["rc-0", "rc-today"]),
        recorded_on=st.just(as_of),
        credential=st.just(cert.credential),
        completed_on=recent,
        method=st.sampled_from(list(RecertMethod)),
        application_id=st.just("app"),
    )
    same_day = data.draw(st.lists(st.one_of(exams, ANY_FACT), max_size=4))
    today = [f.model_copy(update={"recorded_on": as_of}) for f in same_day]
    alone = decide_activity(cert, facts, completed_on, category, as_of, policy)
    assert decide_activity(cert, [*facts, *today], completed_on, category, as_of, policy) == alone
    assert decide_activity(cert, [*today, *facts], completed_on, category, as_of, policy) == alone
