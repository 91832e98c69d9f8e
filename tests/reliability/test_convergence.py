"""Convergence under at-least-once delivery (docs/reliability.md).

Property: for a random scenario (payments with several event types per PaymentIntent - legacy ones,
ones naming invoices, and payment exceptions: 1 cent, 0, overpaid, EUR - refunds,
disputes and disputes won, cmi5 statements and voids, CSV batches, exam results, a recertification
application, daily runs), delivering it as any within-day permutation with duplicates (run B) ends
in the same state as delivering it once, in order (run A):

* ``GET /members/{id}/status`` on the end date: the whole body is equal;
* ``GET /members/{id}/timeline``: every entry equal - facts (keys, dates, ``recorded_on``, amounts,
  points), statement/exam/application events, notices and transitions of the daily runs. Two things are
  normalised (``convergence_model.normalise`` says why): ids that Credly generates, and which of two
  passing exam results completed an application. xAPI statement events and CE facts are compared
  exactly: every crediting statement is its own fact, so nothing about them depends on which
  statement of a course came first (corrected resends in the same registration are generated);
* the parked payments/reversals listing is equal (nothing left waiting in one run only);
* ``GET /members/{id}/invoices`` and the payment exceptions listing are equal. Two payments naming
  the same invoice are not generated: which of two same-day payments for one invoice is held as
  ``already_paid`` is the delivery order itself (``tests/renewal/test_invoices.py`` checks that the
  invoice is paid once either way);
* Credly holds the same badges (recipient, template, state), exactly one per ``recertified`` fact;
* in both runs a live badge exists exactly while a recertification is in force.

Why notices and transitions can be compared exactly: the delivery model (see
``convergence_model``) keeps each event's first arrival on its scenario day and every daily run at
its fixed position, so each daily run sees the same facts in both runs; what varies is the order
within a day, duplicates (the same day or later), redelivered stream records and when the stream
consumer runs. Each run uses a fresh moto account (the daily run reads the due index across the
table).

Reversals of the recertification fee (found by this property: completion used to be one-way, so a
refund delivered after the pass and the payment left the application completed while the same
events with the refund first left it open). Rule since: a recertification is in force only while
its fee is paid, and from the day it last became fully paid (``status.recertified_from``); a badge
is live exactly while it is in force (``BadgeService.reconcile``). For scenarios with such a
reversal the run that completed before the reversal arrived keeps a trail (the completion record, a
revoked badge); status, every other timeline entry and the live badges are compared exactly
(``convergence_model.in_force_view``) and the trail is checked in both runs
(``check_badges_agree``).

The fast variant runs in ``make test``; the slow one (``-m slow``) runs 200 examples.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from local.fake_credly import FakeCredly
from tests.reliability import convergence_model as cm
from tests.reliability.convergence_model import (
    ANN,
    ANNUAL_FEE,
    BO,
    COURSES,
    DAYS,
    RECERT_FEE,
    Event,
    Run,
    Scenario,
    Schedule,
)

PAYMENT_TYPES = ("checkout.session.completed", "payment_intent.succeeded", "invoice.paid")
# ann's fee years, split between her (at most two) annual-fee payments that name invoices
INVOICE_YEARS = ((2024, 2025), (2026,))
# underpayment (1 cent, 0), overpayment, wrong currency: payment exceptions
WRONG_MONEY = ((1, "usd"), (0, "usd"), (ANNUAL_FEE + 1, "usd"), (ANNUAL_FEE, "eur"))
VERB_MINUTES = {"completed": 1, "passed": 2, "satisfied": 3}


# ---------------------------------------------------------------------- strategies


@st.composite
def _payment(draw: st.DrawFn, days: tuple[str, ...], member_id: str, n: int, purpose: str) -> list[Event]:
    pi = f"pi_{member_id}{n}"
    types = draw(st.lists(st.sampled_from(PAYMENT_TYPES), min_size=1, max_size=3, unique=True))
    arrivals = [draw(st.sampled_from(days)) for _ in types]
    paid_on = cm.shift(min(arrivals), -draw(st.sampled_from((0, 4))))
    amount = ANNUAL_FEE if purpose == "annual_fee" else RECERT_FEE
    invoices: tuple[str, ...] = ()
    currency = "usd"
    style = (
        draw(st.sampled_from(("legacy", "invoices", "exception"))) if purpose == "annual_fee" else "legacy"
    )
    if style == "invoices":  # each payment names its own fee years (two links for one invoice: a race)
        years = INVOICE_YEARS[n]
        invoices = tuple(f"{member_id}-RMA-{y}" for y in years[: draw(st.integers(1, len(years)))])
        amount = ANNUAL_FEE * len(invoices)
    elif style == "exception":
        amount, currency = draw(st.sampled_from(WRONG_MONEY))
    events = [
        Event(
            f"{t}:{pi}",
            "stripe",
            day,
            cm.stripe_payment(member_id, pi, t, paid_on, purpose, amount, invoices, currency),
        )
        for t, day in zip(types, arrivals, strict=True)
    ]
    if draw(st.booleans()):
        day = draw(st.sampled_from(days))
        events.append(Event(f"refund:{pi}", "stripe", day, cm.stripe_refund(pi, day)))
    if draw(st.integers(0, 3)) == 0:
        day = draw(st.sampled_from(days))
        events.append(Event(f"dispute:{pi}", "stripe", day, cm.stripe_dispute(pi, day, won=False)))
        if draw(st.booleans()):
            won_day = draw(st.sampled_from([d for d in days if d >= day]))
            events.append(Event(f"dispute-won:{pi}", "stripe", won_day, cm.stripe_dispute(pi, day, won=True)))
    return events


@st.composite
def _course(draw: st.DrawFn, days: tuple[str, ...], member_id: str, course: str) -> list[Event]:
    verbs = draw(st.lists(st.sampled_from(tuple(VERB_MINUTES)), min_size=1, max_size=3, unique=True))
    arrivals = [draw(st.sampled_from(days)) for _ in verbs]
    completed_on = cm.shift(min(arrivals), -draw(st.sampled_from((0, 3, 30))))
    events: list[Event] = []
    short = course.rsplit("/", 1)[-1]
    for verb, day in zip(verbs, arrivals, strict=True):
        statement = cm.xapi_statement(member_id, course, verb, completed_on, VERB_MINUTES[verb])
        events.append(Event(f"{verb}:{short}", "xapi", day, statement))
        if draw(st.integers(0, 3)) == 0:  # the LMS voids this statement later (or the same day)
            void_day = draw(st.sampled_from([d for d in days if d >= day]))
            events.append(Event(f"void-{verb}:{short}", "xapi", void_day, cm.xapi_void(statement, void_day)))
    if draw(st.integers(0, 3)) == 0:  # a corrected resend in the same registration, another date
        day = draw(st.sampled_from(days))
        corrected_on = cm.shift(day, -draw(st.sampled_from((0, 1, 45))))
        statement = cm.xapi_statement(member_id, course, "completed", corrected_on, 4, resend="/corrected")
        events.append(Event(f"corrected:{short}", "xapi", day, statement))
    return events


@st.composite
def _csv(draw: st.DrawFn, days: tuple[str, ...], members: tuple[str, ...], n: int) -> Event:
    day = draw(st.sampled_from(days))
    rows = []
    for line in range(draw(st.integers(1, 3))):
        completed_on = cm.shift(day, -draw(st.sampled_from((0, 10, 40))))
        certificate = f"f{n}-c{line}" if draw(st.booleans()) else ""  # blank: keyed by file and line
        rows.append(
            (
                draw(st.sampled_from(members)),
                f"acme-{draw(st.integers(1, 3))}",
                completed_on,
                draw(st.integers(2, 9)),
                draw(st.sampled_from(("professional_education", "formal_education"))),
                certificate,
            )
        )
    return Event(f"csv:batch{n}", "csv", day, cm.csv_file(f"batch{n}", rows))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    days = tuple(sorted(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=2, unique=True))))
    members = (ANN, BO) if draw(st.booleans()) else (ANN,)
    events: list[Event] = []
    for n in range(draw(st.integers(0, 2))):
        events += draw(_payment(days, ANN, n, "annual_fee"))
    for course in draw(st.lists(st.sampled_from(tuple(COURSES)), max_size=3, unique=True)):
        events += draw(_course(days, ANN, course))
    for n in range(draw(st.integers(0, 2))):
        events.append(draw(_csv(days, members, n)))
    application_day = None
    if BO in members:
        application_day = draw(st.sampled_from(days))
        # usually one fee payment; sometimes a second on the same application (paying again after
        # a refund or a lost dispute, or paying twice)
        for n in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
            events += draw(_payment(days, BO, n, "recertification"))
        for n in range(draw(st.integers(0, 2))):
            day = draw(st.sampled_from(days))
            exam_date = cm.shift(day, -draw(st.sampled_from((0, 3))))
            passed = draw(st.booleans())
            events.append(Event(f"exam:r{n}", "exam", day, cm.exam_result(f"r{n}", passed, exam_date)))
    events.sort(key=lambda e: days.index(e.day))  # canonical: by arrival day, stable
    return Scenario(days, members, tuple(events), application_day)


@st.composite
def redeliveries(draw: st.DrawFn, scenario: Scenario) -> Schedule:
    """Run B: per day, a permutation of the day's events with duplicates (after the first copy),
    drains of the stream at arbitrary points, redelivered stream records, daily-run retries."""
    per_day: list[tuple[Any, ...]] = []
    for day in scenario.days:
        steps: list[tuple[Any, ...]] = [("deliver", i) for i in draw(st.permutations(scenario.on(day)))]
        earlier = [i for i, e in enumerate(scenario.events) if e.day < day]
        for _ in range(draw(st.integers(0, 4))):
            if not steps and not earlier:
                break
            candidates = earlier + [s[1] for s in steps if s[0] == "deliver"]
            index = draw(st.sampled_from(candidates))
            first = next((p for p, s in enumerate(steps) if s[:2] == ("deliver", index)), -1)
            position = draw(st.integers(first + 1, len(steps)))
            steps.insert(position, ("deliver", index, draw(st.booleans())))
        for _ in range(draw(st.integers(0, 2))):
            steps.insert(draw(st.integers(0, len(steps))), ("drain",))
        if draw(st.booleans()):
            steps.insert(draw(st.integers(0, len(steps))), ("redeliver", draw(st.integers(0, 1000))))
        per_day.append(tuple(steps))
    twice = tuple(draw(st.integers(0, 3)) == 0 for _ in scenario.days)
    return Schedule(tuple(per_day), twice)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Scenario, Schedule]:
    scenario = draw(scenarios())
    return scenario, draw(redeliveries(scenario))


# ---------------------------------------------------------------------- harness


@pytest.fixture(scope="module")
def credly() -> Iterator[FakeCredly]:
    fake = FakeCredly(organization_id="convergence-org", token=cm.CREDLY_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def harness(credly: FakeCredly, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in cm.environment(credly).items():
        monkeypatch.setenv(name, value)

    def set_date(day: str) -> None:
        monkeypatch.setenv("STAYCERT_BUSINESS_DATE", day)

    def play(scenario: Scenario, schedule: Schedule) -> tuple[cm.Outcome, list[str]]:
        run = Run(scenario, credly, set_date, monkeypatch.setenv)
        return run.play(schedule), run.log

    with cm.moto_account():
        yield play


def check_converges(harness: Any, scenario: Scenario, schedule: Schedule, *, exact: bool = False) -> None:
    """``exact``: compare the completion trail too, for a scenario whose fee reversal arrives on a
    later day than the completion in both runs (so both runs complete, reopen and complete again)."""
    reference, log_a = harness(scenario, cm.canonical(scenario))
    permuted, log_b = harness(scenario, schedule)
    context = "\nrun A: " + " | ".join(log_a) + "\nrun B: " + " | ".join(log_b)
    for outcome in (reference, permuted):
        cm.check_badges_agree(outcome)
    if scenario.reverses_recertification_fee and not exact:
        reference, permuted = cm.in_force_view(reference), cm.in_force_view(permuted)
    elif not scenario.reverses_recertification_fee:
        assert len(reference.badges) == reference.recertified, reference.badges  # one badge per recert
    for member_id in scenario.members:
        assert permuted.timeline[member_id] == reference.timeline[member_id], (
            f"{member_id} timeline differs{context}\n"
            + _diff(reference.timeline[member_id], permuted.timeline[member_id])
        )
        assert permuted.status[member_id] == reference.status[member_id], f"{member_id} status{context}"
    assert permuted.parked == reference.parked, context
    assert permuted.invoices == reference.invoices, context
    assert permuted.exceptions == reference.exceptions, context
    assert permuted.badges == reference.badges, context
    assert permuted.applications == reference.applications, context  # exactly, reversed fees included


def _diff(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    dump = lambda entries: Counter(json.dumps(e, sort_keys=True) for e in entries)  # noqa: E731
    only_a, only_b = dump(a) - dump(b), dump(b) - dump(a)
    if not only_a and not only_b:
        return "same entries, other order:\n  " + "\n  ".join(
            f"{x['kind']} {x['summary']} | {y['kind']} {y['summary']}"
            for x, y in zip(a, b, strict=True)
            if x != y
        )
    return "only in A:\n  " + "\n  ".join(sorted(only_a)) + "\nonly in B:\n  " + "\n  ".join(sorted(only_b))


FAST_EXAMPLES = 6  # ~25 s: each example is two full runs under in-process moto (~2 s each)
SLOW_EXAMPLES = 200
COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "print_blob": True,
    # no shrinking: one example is two full runs; shrinking a failure took > 5 min. A failure
    # prints both delivery logs and a @reproduce_failure blob instead.
    "phases": (Phase.explicit, Phase.generate),
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}


@settings(max_examples=FAST_EXAMPLES, **COMMON)
@given(case=cases())
def test_any_redelivery_converges_fast(harness: Any, case: tuple[Scenario, Schedule]) -> None:
    check_converges(harness, *case)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **COMMON)
@given(case=cases())
def test_any_redelivery_converges(harness: Any, case: tuple[Scenario, Schedule]) -> None:
    check_converges(harness, *case)


# ---------------------------------------------------------------------- regressions found by the property


def _ann_course(verb: str, day: str) -> Event:
    course = next(iter(COURSES))
    return Event(f"{verb}:c1", "xapi", day, cm.xapi_statement(ANN, course, verb, day, VERB_MINUTES[verb]))


def _bo_recertification_fee(day: str) -> Event:
    payload = cm.stripe_payment(BO, "pi_bo0", "payment_intent.succeeded", day, "recertification", RECERT_FEE)
    return Event("payment_intent.succeeded:pi_bo0", "stripe", day, payload)


def test_void_delivered_before_its_statement_still_voids(harness: Any) -> None:
    """Bug 1: a ``voided`` statement that arrived before the statement it voids was recorded as
    ``nothing_to_void`` for good, so the course stayed credited (10 points too many)."""
    day = DAYS[0]
    completed = _ann_course("completed", day)
    void = Event("void-completed:c1", "xapi", day, cm.xapi_void(completed.payload, day))
    scenario = Scenario((day,), (ANN,), (completed, void))
    void_first = Schedule(((("deliver", 1), ("deliver", 0), ("deliver", 1, False)),), (False,))
    check_converges(harness, scenario, void_first)
    outcome, _ = harness(scenario, void_first)
    assert outcome.status[ANN]["certifications"][0]["ccp"]["earned"] == 0
    assert [e["kind"] for e in outcome.timeline[ANN]].count("ce_void") == 1


def test_exam_result_redelivered_on_a_later_day_is_a_duplicate(harness: Any) -> None:
    """Bug 2: the vendor's retry of an exam result on a later business day got 409 "already
    reported with different content" (the stored event differed in ``recorded_on`` only)."""
    first, second = DAYS[0], DAYS[1]
    result = Event("exam:r0", "exam", first, cm.exam_result("r0", True, first))
    pay = _bo_recertification_fee(second)
    scenario = Scenario((first, second), (BO,), (result, pay), application_day=first)
    retried = Schedule(((("deliver", 0),), (("deliver", 0), ("deliver", 1), ("deliver", 0))), (False, True))
    check_converges(harness, scenario, retried)


def test_two_passing_results_on_one_day_complete_once_either_way(harness: Any) -> None:
    """Found by the slow run: with the fee paid, two passing results recorded the same day complete
    the application with whichever arrived first; status, dates and the badge are the same."""
    day = DAYS[1]
    results = [Event(f"exam:r{n}", "exam", day, cm.exam_result(f"r{n}", True, day)) for n in (0, 1)]
    scenario = Scenario((day,), (BO,), (_bo_recertification_fee(day), *results), application_day=day)
    second_first = Schedule(((("deliver", 0), ("deliver", 2), ("deliver", 1)),), (False,))
    check_converges(harness, scenario, second_first)


def test_csv_redelivered_and_reuploaded_credits_once(harness: Any) -> None:
    """The S3 event delivered again and the same file uploaded again: each row credited once."""
    day = DAYS[1]
    rows = [
        (ANN, "acme-1", day, 4, "professional_education", "f0-c0"),
        (ANN, "acme-2", day, 3, "formal_education", ""),
    ]
    batch = Event("csv:batch0", "csv", day, cm.csv_file("batch0", rows))
    scenario = Scenario((day,), (ANN,), (batch,))
    again = Schedule(((("deliver", 0), ("deliver", 0, False), ("drain",), ("deliver", 0, True)),), (False,))
    check_converges(harness, scenario, again)


def test_recertification_fee_disputed_after_completion_converges(harness: Any) -> None:
    """Bug 3: the dispute of the recertification fee delivered after the pass and the payment (run B)
    left the recertification completed and the badge live; delivered first (run A) it left the
    application open. Now both end in force from the day the dispute was won, with one live badge."""
    day, later = DAYS[0], DAYS[1]
    dispute = Event("dispute:pi_bo0", "stripe", day, cm.stripe_dispute("pi_bo0", day, won=False))
    passed = Event("exam:r0", "exam", day, cm.exam_result("r0", True, day))
    pay = _bo_recertification_fee(day)
    won = Event("dispute-won:pi_bo0", "stripe", later, cm.stripe_dispute("pi_bo0", day, won=True))
    scenario = Scenario((day, later), (BO,), (dispute, passed, pay, won), application_day=day)
    completed_first = Schedule(
        ((("deliver", 2), ("deliver", 1), ("drain",), ("deliver", 0)), (("deliver", 3),)), (False, False)
    )
    check_converges(harness, scenario, completed_first)
    outcome, log = harness(scenario, completed_first)
    [cert] = outcome.status[BO]["certifications"]
    assert (cert["status"], cert["certified_on"]) == ("active", later)
    assert sorted(state for _, _, state in outcome.badges) == ["pending", "revoked"], log


def test_recertification_refunded_reopened_and_paid_again_converges_exactly(harness: Any) -> None:
    """Section "refund reopens": bo completes (fee paid, exam passed), the fee is refunded a later day
    (the application reopens, the badge is revoked), and she pays again on the same application a
    day after. Within each day any order and duplicates: the whole outcome is equal, the completion
    trail included (recertified records, application events, both badges and their states)."""
    first, second, third = DAYS[0], DAYS[1], DAYS[2]
    passed = Event("exam:r0", "exam", first, cm.exam_result("r0", True, first))
    pay = _bo_recertification_fee(first)
    refund = Event("refund:pi_bo0", "stripe", second, cm.stripe_refund("pi_bo0", second))
    again = Event(
        "payment_intent.succeeded:pi_bo1",
        "stripe",
        third,
        cm.stripe_payment(BO, "pi_bo1", "payment_intent.succeeded", third, "recertification", RECERT_FEE),
    )
    scenario = Scenario((first, second, third), (BO,), (passed, pay, refund, again), application_day=first)
    shuffled = Schedule(
        (
            (("deliver", 1), ("drain",), ("deliver", 0), ("deliver", 1)),
            (("deliver", 2), ("redeliver", 7), ("deliver", 1)),
            (("deliver", 3), ("deliver", 2), ("drain",), ("deliver", 3)),
        ),
        (False, True, False),
    )
    check_converges(harness, scenario, shuffled, exact=True)
    outcome, log = harness(scenario, shuffled)
    [cert] = outcome.status[BO]["certifications"]
    assert (cert["status"], cert["certified_on"]) == ("active", third), log
    assert sorted(state for _, _, state in outcome.badges) == ["pending", "revoked"], log


def test_csv_row_and_a_same_day_exam_pass_record_the_same_either_way(harness: Any) -> None:
    """Found by the slow run: a provider row completed 06-22 for bo, her exam passed 06-29 and its fee
    paid, all reaching us on 07-02. Row first: recorded. Exam and fee first: the new cycle (from
    07-02, the day the fee was paid) refused the row as earned before its start, so nothing was
    recorded. R3 at intake now judges in the cycle known the day before: recorded in both runs."""
    day = DAYS[3]
    pay = _bo_recertification_fee(day)
    passed = Event("exam:r0", "exam", day, cm.exam_result("r0", True, cm.shift(day, -3)))
    row = (BO, "acme-1", cm.shift(day, -10), 5, "professional_education", "f0-c0")
    batch = Event("csv:batch0", "csv", day, cm.csv_file("batch0", [row]))
    scenario = Scenario((day,), (BO,), (batch, pay, passed), application_day=day)
    exam_first = Schedule(((("deliver", 1), ("deliver", 2), ("drain",), ("deliver", 0)),), (False,))
    check_converges(harness, scenario, exam_first)
    outcome, log = harness(scenario, exam_first)
    assert [(e["kind"], e["on"]) for e in outcome.timeline[BO] if e["kind"] == "ce"] == [("ce", row[2])], log
    [cert] = outcome.status[BO]["certifications"]
    assert cert["certified_on"] == day, log  # recertified; the row predates the new cycle
