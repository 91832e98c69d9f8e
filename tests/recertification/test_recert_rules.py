"""Pure rules of recertification (no AWS): the CCP window, the fee for an application, completion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared.config.settings import Settings
from shared.rules.models import (
    ActivitySpec,
    CeCompletion,
    CeVoid,
    FeePayment,
    RecertMethod,
    ReversalWithdrawn,
)
from shared.rules.policy import Category
from shared.rules.recert import (
    Decision,
    ExamResult,
    RecertApplication,
    ccp_points_in_window,
    ccp_window,
    is_complete,
    requirements,
)
from shared.rules.status import fee_paid_cents
from tests.rules.rules_helpers import reverse

POLICY = Settings().policy()
D = date.fromisoformat


def app(method: RecertMethod = RecertMethod.CCP, **extra: object) -> RecertApplication:
    fields: dict[str, object] = {
        "application_id": "ana.RMA.1",
        "member_id": "ana",
        "credential": "RMA",
        "method": method,
        "opened_on": D("2026-05-01"),
        "lapsed_on": D("2019-06-01"),
        "fee_cents": 12500,
    }
    return RecertApplication.model_validate({**fields, **extra})


def pay(
    key: str, amount: int = 12500, application_id: str = "ana.RMA.1", on: str = "2026-05-02"
) -> FeePayment:
    return FeePayment(
        key=key,
        recorded_on=D(on),
        credential="RMA",
        purpose="recertification",
        paid_on=D(on),
        amount_cents=amount,
        application_id=application_id,
    )


def ce(key: str, points: int, on: str) -> CeCompletion:
    return CeCompletion(
        key=key,
        recorded_on=D(on),
        activity_id=key,
        completed_on=D(on),
        points=Decimal(points),
        category=Category.PROFESSIONAL_EDUCATION,
    )


def test_ccp_window_is_the_three_years_before_the_application() -> None:
    assert ccp_window(D("2026-05-01"), POLICY) == (D("2023-05-01"), D("2026-05-01"))
    facts = [ce("in", 10, "2023-05-01"), ce("out", 10, "2023-04-30"), ce("voided", 10, "2025-01-01")]
    void = CeVoid(key="v", recorded_on=D("2025-02-01"), completion_key="voided")
    assert ccp_points_in_window([*facts, void], D("2023-05-01"), D("2026-05-01"), D("2026-05-01")) == 10


def test_unmapped_completions_count_once_the_catalog_maps_them() -> None:
    unmapped = ce("later-mapped", 0, "2025-01-10").model_copy(update={"points": None, "category": None})
    window = (D("2023-05-01"), D("2026-05-01"), D("2026-05-01"))
    assert ccp_points_in_window([unmapped], *window) == 0
    spec = ActivitySpec(
        activity_id="later-mapped",
        title="Infection control",
        category=Category.PROFESSIONAL_EDUCATION,
        points=Decimal(30),
        provider_id="acme",
    )
    assert ccp_points_in_window([unmapped], *window, {"later-mapped": spec}) == 30
    assert ccp_points_in_window([ce("own", 5, "2025-01-10")], *window, {"own": spec}) == 5  # own points win
    points = next(
        r
        for r in requirements(app(), [unmapped], [], 1, POLICY, D("2026-05-01"), {"later-mapped": spec})
        if r.item == "ccp_points"
    )
    assert points.done
    assert "earned 30" in points.detail


def test_fee_counts_only_this_applications_effective_payments() -> None:
    other = pay("pi_other", application_id="ana.RMA.2")
    refunded = pay("pi_r")
    reversal = reverse("re_1", "pi_r", D("2026-05-03"), reason="dispute")
    assert fee_paid_cents([other, refunded, reversal], "ana.RMA.1", D("2026-05-02")) == 12500  # not known yet
    assert fee_paid_cents([other, refunded, reversal], "ana.RMA.1", D("2026-05-03")) == 0
    won = ReversalWithdrawn(
        key="w", recorded_on=D("2026-06-01"), reversal_key="re_1", withdrawn_on=D("2026-06-01")
    )
    assert fee_paid_cents([other, refunded, reversal, won], "ana.RMA.1", D("2026-06-01")) == 12500


def test_complete_needs_the_fee_and_the_deciding_item() -> None:
    approved = app(decision=Decision(decision="approved", decided_on=D("2026-05-05")))
    assert not is_complete(requirements(approved, [], [], 1, POLICY, D("2026-05-05")))
    assert is_complete(requirements(approved, [pay("pi")], [], 1, POLICY, D("2026-05-05")))
    # CCP needs evidence uploads: approved and paid but nothing uploaded is not complete
    assert not is_complete(requirements(approved, [pay("pi")], [], 0, POLICY, D("2026-05-05")))
    exam_app = app(RecertMethod.EXAM, eligibility_routes=["work"])
    before_lapse = ExamResult(
        result_id="r0", member_id="ana", credential="RMA", passed=True, exam_date=D("2019-01-01")
    )
    assert not is_complete(requirements(exam_app, [pay("pi")], [before_lapse], 0, POLICY, D("2026-05-05")))
    passed = before_lapse.model_copy(update={"result_id": "r1", "exam_date": D("2026-05-04")})
    assert is_complete(
        requirements(exam_app, [pay("pi")], [before_lapse, passed], 0, POLICY, D("2026-05-05"))
    )


def test_open_application_helper_for_other_modules() -> None:
    from shared.store.recert_queries import open_application
    from shared.store.records import EventRecord, MemberProfile, MemberRecord

    def event(application: RecertApplication) -> EventRecord:
        return EventRecord(
            kind="recert_application",
            key=application.application_id,
            occurred_on=application.opened_on,
            recorded_on=application.opened_on,
            credential="RMA",
            summary="",
            data=application.model_dump(mode="json"),
        )

    closed = app(status="rejected")
    current = app(application_id="ana.RMA.2")
    record = MemberRecord(
        profile=MemberProfile(member_id="ana", first_name="A", last_name="D", email="ana@example.org"),
        certifications={},
        events=(event(closed), event(current)),
    )
    assert open_application(record) == current
    assert open_application(record, "rma") == current
    assert open_application(record, "MLS") is None
