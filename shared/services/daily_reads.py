"""What the daily run reads of a due member (docs/data-model.md, "The daily run's reads").

A certification row the run wrote carries the run's state (:class:`DailyState`: the checkpoint, the
transitions and cycle starts recorded, the audit deadlines still ahead), and DueIndex projects it, so
the due entry the run already read is the certification's header. The member is then read with ONE
bounded Query (``MemberRepository.load_since``: badges, open applications and the facts recorded
after the checkpoint). The state has a copy of the profile for the notices: every profile write
rewrites the member's certification rows without a state, so a copy is never out of date.

The whole partition is read instead (``MemberRepository.load``, as before) whenever the bounded read
could differ from evaluating every fact, or could leave something undone:

* a due entry without state (a row the run never wrote, or one another writer replaced: a roster
  upsert, the audit draw), or without the projected row (an index created before it was projected);
  (a state without a checkpoint - a day the rules could not continue from, such as one in R5's late
  window - is still read bounded: every fact, but not the profile, rows and events);
* a checkpoint due for a refresh (older than ``REFRESH_AFTER_DAYS``: the writer needs every fact), or
  one not before the days the run evaluates (a run that crashed after writing it);
* a late fact (``shared.rules.checkpoint.continues`` refuses the facts read);
* an audit decision among the facts read (its lapse transition is recorded with it, outside the run);
* an open recertification application (the run's completion backstop reads the whole record);
* badges of a certification with a ``Recertified`` fact (reconciling them needs every completion).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.rules.checkpoint import continues
from shared.rules.models import ActivitySpec, AuditDecided, AuditDrawn, Checkpoint, Fact, Recertified
from shared.rules.policy import RulesPolicy
from shared.rules.status import catalog_ids_needed
from shared.services.badge_records import badges_in
from shared.services.checkpoints import REFRESH_AFTER_DAYS
from shared.services.daily_transitions import CYCLE_STARTED
from shared.services.members import CatalogLookup
from shared.store.members import DueCertification, MemberRepository
from shared.store.recert import APPLICATION_KIND
from shared.store.records import CertificationRecord, DailyState, EventRecord, MemberProfile, MemberRecord


@dataclass
class DueMember:
    """A due member as the run read it: whole (``record``), or bounded (``states`` from the due
    entries, ``facts`` recorded after their checkpoints, ``events`` = badges)."""

    member_id: str
    certifications: Mapping[str, CertificationRecord]
    facts: tuple[Fact, ...]
    events: tuple[EventRecord, ...]
    catalog: Mapping[str, ActivitySpec]
    profile: MemberProfile  # from the record read whole, or the due entries' copy
    record: MemberRecord | None = None
    states: Mapping[str, DailyState] = field(default_factory=dict)
    every_fact: bool = True  # ``facts`` holds every fact of the member (read whole, or no checkpoint)

    def with_every_fact(self) -> MemberRecord | None:
        """The member as the checkpoint writer needs it - every fact - when it was read so: the
        record read whole, or the facts of a bounded read made without a checkpoint (its events are
        only the badges: the writer does not use them); None otherwise."""
        if self.record is not None:
            return self.record
        if not self.every_fact:
            return None
        return MemberRecord(
            profile=self.profile,
            certifications=dict(self.certifications),
            facts=self.facts,
            events=self.events,
            checkpoints={c: s.checkpoint for c, s in self.states.items() if s.checkpoint is not None},
        )

    def checkpoint(self, credential: str) -> Checkpoint | None:
        """The checkpoint the bounded read continues from (None when read whole: every fact)."""
        state = self.states.get(credential)
        return state.checkpoint if state is not None else None

    def events_for(self, credential: str) -> tuple[EventRecord, ...]:
        """The events the run needs for ``credential``: every event of a record read whole, or the
        state's transitions and cycle starts plus the badges read."""
        state = self.states.get(credential)
        return self.events if state is None else (*state.events, *self.events)

    def audit_deadlines(self, credential: str) -> tuple[date, ...]:
        """Deadlines of audits drawn before the checkpoint (their facts were not read)."""
        state = self.states.get(credential)
        return state.audit_deadlines if state is not None else ()


class DailyReads:
    def __init__(
        self, repository: MemberRepository, policy: RulesPolicy, catalog: CatalogLookup | None
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.catalog = catalog

    def load(
        self, member_id: str, entries: Mapping[str, DueCertification], since_run: date, run_date: date
    ) -> DueMember | None:
        """The member with its due certifications ``entries``, read bounded when the entries allow
        it (module docstring), else whole; None for a member with no profile."""
        bounded = self._bounded(member_id, entries, since_run, run_date)
        if bounded is not None:
            return bounded
        record = self.repository.load(member_id)
        if record is None:
            return None
        return DueMember(
            member_id=member_id,
            certifications=record.certifications,
            facts=record.facts,
            events=record.events,
            catalog=self._catalog(record.facts),
            profile=record.profile,
            record=record,
        )

    def _bounded(
        self, member_id: str, entries: Mapping[str, DueCertification], since_run: date, run_date: date
    ) -> DueMember | None:
        states: dict[str, DailyState] = {}
        certifications: dict[str, CertificationRecord] = {}
        for credential, entry in entries.items():
            if entry.certification is None or entry.daily is None:
                return None
            checkpoint = entry.daily.checkpoint
            if checkpoint is not None and (
                checkpoint.through >= since_run
                or (run_date - timedelta(days=1) - checkpoint.through).days >= REFRESH_AFTER_DAYS
            ):
                return None
            states[credential], certifications[credential] = entry.daily, entry.certification
        days = [s.checkpoint.through if s.checkpoint else None for s in states.values()]
        every_fact = None in days
        read = self.repository.load_since(member_id, None if every_fact else min(d for d in days if d))
        if any(e.kind == APPLICATION_KIND for e in read.events):
            return None
        badges = badges_in(read.events)
        for credential, state in states.items():
            cert = certifications[credential].as_certification()
            if (
                (
                    state.checkpoint
                    and not continues(state.checkpoint, cert, read.facts, run_date, self.policy)
                )
                or any(isinstance(f, AuditDecided) and f.credential == credential for f in read.facts)
                or (state.recertified and any(b.credential == credential for b in badges))
            ):
                return None
        return DueMember(
            member_id=member_id,
            certifications=certifications,
            facts=read.facts,
            events=read.events,
            catalog=self._catalog(read.facts),
            profile=next(iter(states.values())).profile,
            states=states,
            every_fact=every_fact,
        )

    def _catalog(self, facts: tuple[Fact, ...]) -> Mapping[str, ActivitySpec]:
        """The catalog entries of the activities that were unmapped when completed (one batched
        read, only when there are some)."""
        unmapped = catalog_ids_needed(facts)
        return self.catalog(unmapped) if self.catalog and unmapped else {}


def state_after(
    member: DueMember,
    credential: str,
    checkpoint: Checkpoint | None,
    events: list[EventRecord],
    run_date: date,
) -> DailyState:
    """The state the run leaves on the certification's row after evaluating it on ``run_date``:
    ``checkpoint`` (the one in force, or None: the next run then reads every fact, still not the
    profile and events), ``events`` (its transitions and cycle starts, those recorded now included),
    and what the next bounded read cannot see."""
    state = member.states.get(credential)
    recertified = state.recertified if state is not None else False
    recertified = recertified or any(
        isinstance(f, Recertified) and f.credential == credential for f in member.facts
    )
    deadlines = {
        *member.audit_deadlines(credential),
        *(f.deadline for f in member.facts if isinstance(f, AuditDrawn) and f.credential == credential),
    }
    by_key = {(e.kind, e.key): e for e in events if e.kind != CYCLE_STARTED}
    by_key |= {
        (e.kind, e.key): e
        for e in (*member.events_for(credential), *events)
        if e.kind == CYCLE_STARTED and e.credential == credential
    }
    return DailyState(
        profile=member.profile,
        checkpoint=checkpoint,
        events=tuple(sorted(by_key.values(), key=lambda e: (e.recorded_on, e.kind, e.key))),
        audit_deadlines=tuple(sorted(d for d in deadlines if d >= run_date)),
        recertified=recertified,
    )
