"""The annual CCP audit draw: a reproducible random sample.

Each year on ``policy.audit_month_day`` (AUDIT_DRAW_DATE, default 01-15) a sample of ``audit_rate``
(default 10 %, rounded up) of the certifications whose CCP cycle ended in the previous calendar year
is drawn. The seed is recorded on every ``AuditDrawn`` fact: the same pool and seed always give the
same sample, so the draw can be re-run (after a crash) or checked by an auditor.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from shared.rules.policy import RulesPolicy


def draw_date(year: int, policy: RulesPolicy) -> date:
    month, day = policy.audit_month_day
    return date(year, month, day)


def audit_seed(year: int) -> str:
    return f"ccp-audit-{year}"


def audit_id(year: int, member_id: str, credential: str) -> str:
    return f"{year}-{credential}-{member_id}"


def sample_size(pool_size: int, rate: Decimal) -> int:
    return min(pool_size, math.ceil(Decimal(pool_size) * rate))


def draw(pool: Iterable[str], rate: Decimal, seed: str) -> list[str]:
    """The sample, sorted: ``random.Random(seed)`` over the sorted, de-duplicated pool (not a security
    use of randomness: reproducibility is the point)."""
    ordered = sorted(set(pool))
    chosen = random.Random(seed).sample(ordered, sample_size(len(ordered), rate))  # noqa: S311
    return sorted(chosen)


def deadline(drawn_on: date, policy: RulesPolicy) -> date:
    return drawn_on + timedelta(days=policy.audit_deadline_days)
