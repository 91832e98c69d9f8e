"""One course, one credit: of the live (recorded, not voided) CE facts of LMS statements reporting
one course, the one completed first counts (ties: the smaller key); the others count 0.

Each crediting statement is its own fact (``statement_fact_key``) and a void invalidates that
statement only (xAPI 1.0.3 §2.3.2), so the credit of a course is a function of the *set* of its
statements, whatever order they arrived in: a corrected resend, or a ``passed`` beside a voided
``completed``, keeps the course credited once its sibling is voided. See docs/rules.md "Earned again
after a void".
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.rules.fact_keys import course_of_fact_key
from shared.rules.models import CeCompletion


def superseded(live: Iterable[CeCompletion]) -> frozenset[str]:
    """The keys of ``live`` completions that do not count because another live statement of the
    same course does (facts of other keys - CSV rows, manual, older per-course keys - are never)."""
    first: dict[str, CeCompletion] = {}
    reports: list[tuple[str, CeCompletion]] = []
    for completion in live:
        course = course_of_fact_key(completion.key)
        if course is None:
            continue
        reports.append((course, completion))
        best = first.get(course)
        if best is None or (completion.completed_on, completion.key) < (best.completed_on, best.key):
            first[course] = completion
    return frozenset(c.key for course, c in reports if first[course].key != c.key)
