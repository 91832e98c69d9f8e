"""Checkpoints through the rules core: for random histories, the status evaluated from the latest
checkpoint plus the facts recorded after it equals the status evaluated from every fact - including
histories with late facts behind the checkpoint, where ``continues`` must send the reader back to
every fact. The slow variants run 300 examples each (``make test-slow``); the fast ones a few."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rules_helpers import PE, entry
from test_rules_properties import (
    ANY_FACT,
    CATALOG,
    CERTS,
    HI,
    POLICIES,
    event_and_recorded,
    timelines,
)

from shared.rules.checkpoint import continues, fold
from shared.rules.models import CeCompletion, Certification, Fact, SelfReported, self_report_key
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate

OUTCOMES: Counter[str] = Counter()


@st.composite
def self_reports(draw: st.DrawFn) -> SelfReported:
    """A version of one of three self-reported activities (a later version may withdraw it); some
    name a catalog activity, so they can duplicate an LMS completion."""
    done, recorded = draw(event_and_recorded())
    activity_id = draw(st.sampled_from(["s0", "s1", "s2"]))
    version = draw(st.integers(1, 3))
    withdrawn = version > 1 and draw(st.booleans())
    item = (
        None
        if withdrawn
        else entry(
            PE,
            completed_on=done.isoformat(),
            units={"contact_hours": draw(st.integers(1, 20))},
            catalog_activity_id=draw(st.sampled_from([None, None, "known"])),
        )
    )
    return SelfReported(
        key=self_report_key(activity_id, version),
        recorded_on=recorded,
        activity_id=activity_id,
        version=version,
        entry=item,
    )


# Unmapped completions are left out: a day with one waiting for the catalog gets no checkpoint.
FACTS = st.one_of(ANY_FACT, self_reports()).filter(
    lambda f: not (isinstance(f, CeCompletion) and f.points is None)
)


def check_checkpoint(
    cert: Certification, facts: list[Fact], through: date, as_of: date, policy: RulesPolicy
) -> str:
    """The checkpoint property for one history; returns which path the reader took."""
    checkpoint = fold(cert, facts, through, policy, CATALOG)
    if checkpoint is None:
        return "no checkpoint that day"
    full = evaluate(cert, facts, as_of, policy, CATALOG)
    later = [f for f in facts if f.recorded_on > through]
    if not continues(checkpoint, cert, later, as_of, policy):
        return "late fact: every fact evaluated"
    assert evaluate(cert, later, as_of, policy, CATALOG, checkpoint=checkpoint) == full
    # older facts given too (a page that ran past the checkpoint) are ignored
    assert evaluate(cert, facts, as_of, policy, CATALOG, checkpoint=checkpoint) == full
    return "continued from the checkpoint"


def as_stored(facts: list[Fact]) -> list[Fact]:
    """The history the table can hold: one fact per (kind, key). A fact's key is its conditional put's
    dedup marker, so of two facts generated with one key only the one recorded first is stored."""
    stored: dict[tuple[str, str], Fact] = {}
    for fact in sorted(facts, key=lambda f: f.recorded_on):
        stored.setdefault((fact.kind, fact.key), fact)
    return list(stored.values())


@st.composite
def random_case(draw: st.DrawFn) -> tuple[Certification, list[Fact], date, date, RulesPolicy]:
    cert = draw(CERTS)
    facts = as_stored(draw(st.lists(FACTS, max_size=20)))
    through = draw(st.dates(min_value=cert.certified_on, max_value=HI - timedelta(days=2)))
    as_of = through + timedelta(days=draw(st.one_of(st.integers(1, 60), st.integers(1, 3000))))
    return cert, facts, through, min(as_of, HI), draw(POLICIES)


@st.composite
def timeline_case(draw: st.DrawFn) -> tuple[Certification, list[Fact], date, date, RulesPolicy]:
    """A compliant history with perturbations around the lapse thresholds, a checkpoint day among its
    busy days, and extra random facts recorded after that day (some of them late facts)."""
    cert, facts, hot = draw(timelines())
    days = sorted({*hot, *(f.recorded_on for f in facts)})
    through = draw(st.sampled_from(days)) + timedelta(days=draw(st.integers(-3, 3)))
    extra = draw(st.lists(FACTS, max_size=4))
    after = [
        f.model_copy(update={"recorded_on": through + timedelta(days=draw(st.integers(1, 900)))})
        for f in extra
    ]
    as_of = draw(st.sampled_from([through + timedelta(days=1), *(f.recorded_on for f in after), *hot]))
    as_of = max(as_of, through + timedelta(days=1)) + timedelta(days=draw(st.integers(0, 400)))
    return cert, as_stored([*facts, *after]), through, as_of, draw(POLICIES)


CASES = st.one_of(random_case(), timeline_case())


def _run(case: tuple[Certification, list[Fact], date, date, RulesPolicy]) -> None:
    outcome = check_checkpoint(*case)
    OUTCOMES[outcome] += 1
    event(outcome)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES)
def test_checkpoint_plus_later_facts_equals_every_fact(
    case: tuple[Certification, list[Fact], date, date, RulesPolicy],
) -> None:
    _run(case)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES)
def test_checkpoint_plus_later_facts_equals_every_fact_fast(
    case: tuple[Certification, list[Fact], date, date, RulesPolicy],
) -> None:
    _run(case)


# ------------------------------------------------------------------ through the store read (moto)

MEMBERS = iter(range(10**9))


def check_store_read(
    case: tuple[Certification, list[Fact], date, date, RulesPolicy],
) -> str:
    """The same property through the store: the facts written to the member partition, the checkpoint
    the daily run's writer folds, and the status read (``StatusReads``: one bounded Query, or the
    whole partition after a late fact) against evaluating every stored fact."""
    from shared.services.checkpoints import CheckpointWriter, StatusReads
    from shared.store.members import MemberRepository
    from shared.store.records import CertificationRecord, MemberProfile
    from tests.conftest import TABLE

    cert, facts, through, as_of, policy = case
    repository = MemberRepository(TABLE)
    member_id = f"m{next(MEMBERS)}"
    profile = MemberProfile(member_id=member_id, first_name="Ana", last_name="Diaz", email="ana@example.org")
    record = CertificationRecord(credential=cert.credential, certified_on=cert.certified_on)
    repository.save_member(profile, [record])
    # each key once, its first arrival (what the writers' conditional puts keep)
    first = {
        (f.kind, f.key): f
        for f in sorted(facts, key=lambda f: (f.recorded_on, f.model_dump_json()), reverse=True)
    }
    repository.put_facts((member_id, f) for f in first.values())
    stored = repository.load(member_id)
    assert stored is not None
    written, _ = CheckpointWriter(repository, policy).settle(
        stored, cert.credential, through + timedelta(days=1)
    )
    reads = StatusReads(repository, policy, lambda _: CATALOG)
    found = reads.statuses(member_id, as_of)
    assert found is not None
    read, statuses = found
    assert statuses == [evaluate(cert, stored.facts, as_of, policy, CATALOG)]
    if not written:
        return "no checkpoint that day"
    return "continued from the checkpoint" if not read.complete else "late fact: every fact evaluated"


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=CASES)
def test_store_read_from_checkpoint_equals_every_fact(
    aws: object, case: tuple[Certification, list[Fact], date, date, RulesPolicy]
) -> None:
    event(check_store_read(case))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=CASES)
def test_store_read_from_checkpoint_equals_every_fact_fast(
    aws: object, case: tuple[Certification, list[Fact], date, date, RulesPolicy]
) -> None:
    event(check_store_read(case))
