"""``staycert simulate`` on a tiny population: its monthly counts must be what the rules core says."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from local.simulate import COLUMNS, SimParams, SimResult, simulate, table
from shared.config.settings import get_policy
from shared.rules.models import AuditDrawn, Recertified
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate

PARAMS = SimParams(members=60, years=2, seed=3, stop_share=0.3, short_share=0.3)


@pytest.fixture(scope="module")
def policy() -> RulesPolicy:
    return get_policy().model_copy(update={"audit_rate": Decimal("0.25")})


@pytest.fixture(scope="module")
def result(policy: RulesPolicy) -> SimResult:
    return simulate(PARAMS, policy, workers=1)


def test_month_end_standings_are_the_rules_cores(result: SimResult, policy: RulesPolicy) -> None:
    assert len(result.rows) == 24
    for month_end, row in zip(result.months, result.rows, strict=True):
        direct = Counter(
            evaluate(member.cert, member.facts, month_end, policy).status.value for member in result.members
        )
        assert (row["active"], row["delinquent"], row["lapsed"]) == (
            direct["active"],
            direct["delinquent"],
            direct["lapsed"],
        ), month_end
        assert row["active"] + row["delinquent"] + row["lapsed"] == PARAMS.members


def test_recertifications_and_audits_match_the_recorded_facts(result: SimResult) -> None:
    facts = [fact for member in result.members for fact in member.facts]
    for month_end, row in zip(result.months, result.rows, strict=True):
        month = (month_end.year, month_end.month)
        recertified = [
            f
            for f in facts
            if isinstance(f, Recertified) and (f.completed_on.year, f.completed_on.month) == month
        ]
        drawn = [
            f for f in facts if isinstance(f, AuditDrawn) and (f.drawn_on.year, f.drawn_on.month) == month
        ]
        assert row["recertified"] == len(recertified), month_end
        assert row["audits_drawn"] == len(drawn), month_end
    # the population was built to lapse (stoppers, short CE) and audits are drawn each January
    assert sum(row["newly_lapsed"] for row in result.rows) > 0
    assert result.rows[0]["audits_drawn"] > 0
    assert result.rows[12]["audits_drawn"] > 0


def test_notices_are_the_distinct_notices_plus_one_per_lapse(result: SimResult) -> None:
    sent = sum(len(member.notices_sent) for member in result.members)
    lapses = sum(row["newly_lapsed"] for row in result.rows)
    assert sum(row["notices"] for row in result.rows) == sent + lapses


def test_seeded_and_independent_of_the_worker_count(result: SimResult, policy: RulesPolicy) -> None:
    again = simulate(PARAMS, policy, workers=2)
    assert again.rows == result.rows
    other_seed = simulate(SimParams(**{**PARAMS.__dict__, "seed": 4}), policy, workers=1)
    assert other_seed.rows != result.rows


def test_table_has_a_line_per_month(result: SimResult) -> None:
    lines = table(result).splitlines()
    assert lines[0].split()[1:] == list(COLUMNS)
    assert lines[1].startswith("2026-01")
    assert len(lines) == 25
    assert result.months[0] == date(2026, 1, 31)
