"""Properties of evaluate(): a function of the SET of facts, and lapse is sticky over time."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_helpers import POLICY, activity, make_policy

from shared.rules.models import (
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    Certification,
    CeVoid,
    Fact,
    FeePayment,
    PaymentReversal,
    RecertMethod,
    Recertified,
    ReversalWithdrawn,
    Standing,
)
from shared.rules.policy import Category
from shared.rules.status import evaluate

LO, HI = date(2003, 1, 1), date(2026, 12, 31)
CREDENTIALS = st.sampled_from(["RMA", "AHI"])
CATALOG = {"known": activity("known", 10)}
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
    Certification, credential=CREDENTIALS, certified_on=st.dates(min_value=date(2003, 1, 1), max_value=date(2016, 12, 31))
)
AS_OF = st.dates(min_value=date(2003, 1, 1), max_value=HI)
POLICIES = st.sampled_from([POLICY, make_policy(category_caps={Category.EMPLOYMENT: Decimal(8)}, late_reporting_days=30)])

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    cert=CERTS,
    facts=st.lists(ANY_FACT, max_size=20),
    as_of=AS_OF,
    policy=POLICIES,
    data=st.data(),
)
def test_evaluate_depends_only_on_the_set_of_facts(
    cert: Certification, facts: list[Fact], as_of: date, policy: object, data: st.DataObject
) -> None:
    assert isinstance(policy, type(POLICY))
    expected = evaluate(cert, facts, as_of, policy, CATALOG)
    duplicates = data.draw(st.lists(st.sampled_from(facts), max_size=10)) if facts else []
    shuffled = data.draw(st.permutations([*facts, *duplicates]))
    assert evaluate(cert, shuffled, as_of, policy, CATALOG) == expected
    assert evaluate(cert, tuple(reversed(facts)), as_of, policy, CATALOG) == expected


@SETTINGS
@given(cert=CERTS, facts=st.lists(ANY_FACT, max_size=20), as_of=AS_OF, later=st.lists(ANY_FACT, max_size=5))
def test_facts_recorded_after_as_of_are_ignored(
    cert: Certification, facts: list[Fact], as_of: date, later: list[Fact]
) -> None:
    future = [f.model_copy(update={"recorded_on": as_of + timedelta(days=1 + i)}) for i, f in enumerate(later)]
    assert evaluate(cert, [*facts, *future], as_of, POLICY, CATALOG) == evaluate(cert, facts, as_of, POLICY, CATALOG)


@SETTINGS
@given(
    cert=CERTS,
    facts=st.lists(NON_RECERT_FACTS, max_size=20),
    first=AS_OF,
    step=st.integers(min_value=1, max_value=3000),
    policy=POLICIES,
)
def test_lapse_is_sticky_without_recertification(
    cert: Certification, facts: list[Fact], first: date, step: int, policy: object
) -> None:
    assert isinstance(policy, type(POLICY))
    before = evaluate(cert, facts, first, policy, CATALOG)
    after = evaluate(cert, facts, first + timedelta(days=step), policy, CATALOG)
    if before.status is Standing.LAPSED:
        assert after.status is Standing.LAPSED
        assert before.lapsed_on is not None
        assert after.lapsed_on is not None
        assert after.lapsed_on <= before.lapsed_on  # a late fact may date it earlier, never later
    assert (after.lapsed_on is None) or after.lapsed_on <= first + timedelta(days=step)


@settings(max_examples=200, deadline=None)
@given(cert=CERTS, facts=st.lists(NON_RECERT_FACTS, max_size=20), as_of=AS_OF)
def test_status_shape_invariants(cert: Certification, facts: list[Fact], as_of: date) -> None:
    status = evaluate(cert, facts, as_of, POLICY, CATALOG)
    assert (status.status is Standing.LAPSED) == (status.lapsed_on is not None) == status.recertification.required
    assert (status.status is Standing.ACTIVE) == (status.reasons == ())
    assert sum(status.ccp.by_category.values()) == status.ccp.earned
    assert status.ccp.remaining == max(Decimal(0), status.ccp.required - status.ccp.earned)
    assert status.ccp.cycle_start <= status.ccp.cycle_end
