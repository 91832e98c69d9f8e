"""Bounded status reads and the checkpoint writer (docs/data-model.md, "Checkpoints and bounded
reads"; docs/rules.md, "Checkpoints").

The status and standing reads use ``MemberRepository.load_recent`` (one Query of RecordedIndex: the
header items and the facts recorded after the checkpoints) and evaluate each certification from its
checkpoint. A certification without a checkpoint yet makes that Query read every fact; a late fact
behind a checkpoint (``shared.rules.checkpoint.continues``) makes the read load the whole partition
(a second Query). The daily run rebuilds checkpoints (``settle``), so a late fact costs full reads
only until the certification's next daily evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta

from shared.rules.checkpoint import continues, fold
from shared.rules.models import ActivitySpec, CertificationStatus, Checkpoint, Fact
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate
from shared.store.members import MemberRepository
from shared.store.records import MemberRecord

CatalogFor = Callable[[tuple[Fact, ...]], Mapping[str, ActivitySpec]]
# A checkpoint younger than this is kept as long as the rules can continue from it: the facts read
# after it stay under a few months' worth, and the daily run writes at most one checkpoint per
# certification per quarter.
REFRESH_AFTER_DAYS = 90


class StatusReads:
    """Statuses of a member's certifications on a day, from checkpoints when they allow it."""

    def __init__(self, repository: MemberRepository, policy: RulesPolicy, catalog_for: CatalogFor) -> None:
        self.repository = repository
        self.policy = policy
        self.catalog_for = catalog_for

    def statuses(self, member_id: str, today: date) -> tuple[MemberRecord, list[CertificationStatus]] | None:
        """(the record read, the statuses in credential order); None for an unknown member."""
        recent = self.repository.load_recent(member_id)
        if recent is None:  # unknown, or (before the index backfill) a member written before it
            return self._full(member_id, today)
        if set(recent.checkpoints) != set(recent.certifications):  # it read every fact
            return recent, self._evaluate_all(recent, today)
        if self.continuable(recent, today):
            catalog = self.catalog_for(recent.facts)
            return recent, [
                evaluate(
                    cert.as_certification(),
                    recent.facts,
                    today,
                    self.policy,
                    catalog,
                    checkpoint=recent.checkpoints[credential],
                )
                for credential, cert in sorted(recent.certifications.items())
            ]
        # a late fact behind a checkpoint: every fact (a second Query, until the checkpoint is rebuilt)
        return self._full(member_id, today)

    def _full(self, member_id: str, today: date) -> tuple[MemberRecord, list[CertificationStatus]] | None:
        record = self.repository.load(member_id)
        if record is None:
            return None
        return record, self._evaluate_all(record, today)

    def _evaluate_all(self, record: MemberRecord, today: date) -> list[CertificationStatus]:
        catalog = self.catalog_for(record.facts)
        return [
            evaluate(cert.as_certification(), record.facts, today, self.policy, catalog)
            for _, cert in sorted(record.certifications.items())
        ]

    def continuable(self, record: MemberRecord, today: date) -> bool:
        """Every certification has a checkpoint the rules can continue from with these facts."""
        return all(
            (checkpoint := record.checkpoints.get(credential)) is not None
            and continues(checkpoint, cert.as_certification(), record.facts, today, self.policy)
            for credential, cert in record.certifications.items()
        )


class CheckpointWriter:
    """Writes the derived checkpoints (the daily run calls it for each certification it evaluates)."""

    def __init__(self, repository: MemberRepository, policy: RulesPolicy) -> None:
        self.repository = repository
        self.policy = policy

    def settle(
        self,
        record: MemberRecord,
        credential: str,
        run_date: date,
    ) -> tuple[bool, Checkpoint | None]:
        """Fold the certification as of the end of the day before ``run_date`` (a complete day: a
        fact recorded later on the run date stays after it) from the whole partition ``record``, and
        write it when there is none, when the rules can no longer continue from the current one (a
        late fact, a roster or policy change) or when it is older than ``REFRESH_AFTER_DAYS``. When
        that day cannot be a checkpoint (``fold`` says None) nothing is written, and an invalidated
        checkpoint is deleted (the status read then reads every fact in its one Query, instead of a
        bounded read followed by a full one).

        Returns (written or removed, the checkpoint in force afterwards - one the rules can continue
        from on ``run_date`` - or None)."""
        cert = record.certifications.get(credential)
        if cert is None or not record.complete:
            return False, None
        through = run_date - timedelta(days=1)
        current = record.checkpoints.get(credential)
        valid = current is not None and continues(
            current, cert.as_certification(), record.facts, run_date, self.policy
        )
        kept = current if valid else None
        if kept is not None and (through - kept.through).days < REFRESH_AFTER_DAYS:
            return False, kept
        checkpoint = fold(cert.as_certification(), record.facts, through, self.policy)
        if checkpoint is None:
            if current is not None and not valid:  # invalidated and not rebuildable today: drop it
                self.repository.delete_checkpoint(record.profile.member_id, current.credential)
                return True, None
            return False, kept
        if checkpoint == current:
            return False, current
        self.repository.put_checkpoint(record.profile.member_id, checkpoint)
        return True, checkpoint
