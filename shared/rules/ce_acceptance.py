"""R3 across a member's certifications: one CE activity is kept when any certification accepts it.

Both CE sources that credit a completed activity (LMS statements and provider CSV rows) ask this
one question; self-reported activities have their own per-certification rules (``self_report``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from shared.rules.models import Certification, Fact
from shared.rules.policy import Category, RulesPolicy
from shared.rules.status import decide_activity

REJECTED_WITHOUT_REASON = "rejected"


def rejection_by_every_certification(  # noqa: PLR0917 - the R3 inputs, each one value
    certifications: Iterable[Certification],
    facts: Sequence[Fact],
    completed_on: date,
    category: Category,
    as_of: date,
    policy: RulesPolicy,
) -> str | None:
    """None when some certification accepts an activity completed on ``completed_on`` (R3), or
    when there is none to ask; else the first certification's reason (in the order given)."""
    first: str | None = None
    for cert in certifications:
        decision = decide_activity(cert, facts, completed_on, category, as_of, policy)
        if decision.accepted:
            return None
        first = first or decision.reason or REJECTED_WITHOUT_REASON
    return first
