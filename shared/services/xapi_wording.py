"""The member timeline's wording of LMS statements: every summary an xAPI event carries."""

from __future__ import annotations

from shared.rules.models import ActivitySpec
from shared.services.xapi_plan import Outcome


def completion_summary(
    verb_id: str, course: str, spec: ActivitySpec | None, outcome: Outcome, reason: str | None
) -> str:
    """A crediting statement's summary: what it earned, or why it earned nothing."""
    verb = verb_id.rsplit("/", 1)[-1]
    title = spec.title if spec else course
    match outcome:
        case Outcome.CREDITED:
            assert spec is not None
            return f"LMS {verb}: {title} — {spec.points} points ({spec.category.value})"
        case Outcome.UNMAPPED:
            return f"LMS {verb}: {course} — activity not in catalog yet, counts once added"
        case Outcome.ALREADY_CREDITED:
            return f"LMS {verb}: {title} — course already credited"
        case _:
            return f"LMS {verb}: {title} — rejected: {reason}"


def void_summary(voided_id: str, fact_key: str) -> str:
    """A ``voided`` statement's summary: which statement it voided and which credit it reversed."""
    return f"LMS voided statement {voided_id}: CE credit for {fact_key} reversed"


def nothing_to_void_reason(voided_id: str) -> str:
    """Why a ``voided`` statement changed nothing."""
    return f"statement {voided_id} credited nothing we know of"
