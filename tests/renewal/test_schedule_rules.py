"""Pure rules of the schedule and the audit draw, and the print-batch cell escaping (no AWS)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.adapters.notifier import print_batch_csv, safe_cell
from shared.adapters.stripe_events import Ignored, MalformedEvent, PaymentSeen, ReversalSeen, interpret
from shared.config.settings import Settings
from shared.rules import audit
from shared.rules.models import Certification, FeePayment
from shared.rules.schedule import next_action_date, notices_due
from shared.rules.status import evaluate
from tests.renewal import stripe_payloads as sp

POLICY = Settings().policy()
CERT = Certification(credential="RMA", certified_on=date(2024, 5, 14))


def due_on(day: date, facts: list[FeePayment] | None = None) -> list[tuple[str, str]]:
    status = evaluate(CERT, facts or [], day, POLICY)
    return [(n.kind, n.period) for n in notices_due(status, day, POLICY)]


def next_after(day: date, facts: list[FeePayment] | None = None) -> date | None:
    return next_action_date(evaluate(CERT, facts or [], day, POLICY), facts or [], day, POLICY)


def test_renewal_notice_series_and_stale_window() -> None:
    assert due_on(date(2025, 3, 1)) == []
    assert due_on(date(2025, 3, 2)) == [("renewal_before", "2025-05")]
    assert due_on(date(2025, 5, 1)) == [("renewal_due", "2025-05")]
    assert due_on(date(2025, 6, 30)) == [("renewal_late", "2025-05")]
    assert due_on(date(2025, 7, 30)) == [("renewal_late", "2025-05")]  # a catch-up run still sends it
    assert due_on(date(2025, 7, 31)) == []  # 31 days old: moot, not history


def test_paid_fee_moves_notices_to_the_next_year() -> None:
    paid = [
        FeePayment(
            key="pi_1",
            recorded_on=date(2025, 3, 10),
            credential="RMA",
            purpose="annual_fee",
            paid_on=date(2025, 3, 10),
            amount_cents=5000,
        )
    ]
    assert due_on(date(2025, 5, 1), paid) == []
    assert due_on(date(2026, 3, 2), paid) == [("renewal_before", "2026-05")]
    assert next_after(date(2025, 3, 10), paid) == date(2026, 3, 2)  # the next fee's first notice


def test_next_action_dates_walk_the_schedule() -> None:
    walk = [date(2025, 1, 1)]
    while len(walk) < 6:
        upcoming = next_after(walk[-1])
        assert upcoming is not None
        walk.append(upcoming)
    assert walk[1:] == [
        date(2025, 3, 2),
        date(2025, 5, 1),
        date(2025, 6, 1),
        date(2025, 6, 30),
        date(2026, 3, 2),
    ]


def test_audit_draw_is_reproducible_and_sized() -> None:
    pool = [f"m{n}#RMA" for n in range(95)]
    first = audit.draw(pool, Decimal("0.10"), "ccp-audit-2026")
    assert len(first) == 10  # ceil(9.5)
    assert audit.draw(reversed(pool), Decimal("0.10"), "ccp-audit-2026") == first
    assert audit.draw(pool, Decimal("0.10"), "ccp-audit-2027") != first
    assert audit.draw([], Decimal("0.10"), "s") == []
    assert audit.draw_date(2026, POLICY) == date(2026, 1, 15)


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(value: str) -> None:
    assert safe_cell(value) == f"'{value}"
    assert safe_cell("Springfield") == "Springfield"
    assert b"'=1+2" in print_batch_csv([{"name": "=1+2"}])


def test_stripe_mapping_keys_on_the_payment_intent() -> None:
    session = interpret(
        sp.event("checkout.session.completed", sp.checkout_session(pi="pi_9", invoice="in_9"))
    )
    assert isinstance(session, PaymentSeen)
    assert (session.payment_key, session.amount_cents, session.purpose) == ("pi_9", 5000, "annual_fee")
    no_pi = interpret(sp.event("checkout.session.completed", sp.checkout_session(pi=None, invoice="in_9")))
    assert isinstance(no_pi, PaymentSeen)
    assert no_pi.payment_key == "in_9"
    bare = interpret(sp.event("checkout.session.completed", sp.checkout_session(pi=None)))
    assert isinstance(bare, PaymentSeen)
    assert bare.payment_key == "cs_test_1"
    new_invoice = {**sp.invoice(pi=None), "payments": {"data": [{"payment": {"payment_intent": "pi_new"}}]}}
    found = interpret(sp.event("invoice.paid", new_invoice))
    assert isinstance(found, PaymentSeen)
    assert found.payment_key == "pi_new"
    refund = interpret(sp.event("charge.refunded", sp.charge(pi="pi_9")))
    assert isinstance(refund, ReversalSeen)
    assert (refund.payment_key, refund.reversal_key) == (
        "pi_9",
        "refund-ch_1",
    )
    assert isinstance(interpret(sp.event("charge.dispute.closed", sp.dispute(status="lost"))), Ignored)
    with pytest.raises(MalformedEvent):
        interpret({"id": "evt", "type": "invoice.paid", "data": {"object": {"created": 1}}})
