"""The yearly audit draw, run by the daily run on the draw date (:mod:`shared.rules.audit`).

The pool is the cycles that ended the year before (added by the daily run at each cycle roll-over);
the draw is seeded by the year, so a re-run draws the same members. Each chosen cycle gets its
``AuditDrawn`` fact, notice and pulled-forward next action date; the draw itself is recorded only
once every chosen member went through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from shared.observability import logger
from shared.rules import audit, schedule
from shared.rules.models import AuditDrawn, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.schedule import NoticeDue
from shared.rules.status import catalog_ids_needed, evaluate
from shared.services.daily_notices import NoticeSender
from shared.services.daily_summary import DailySummary
from shared.services.members import CatalogLookup
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.records import CertificationRecord, MemberRecord
from shared.store.schedule import ScheduleStore


class AuditDraw:
    def __init__(
        self,
        repository: MemberRepository,
        store: ScheduleStore,
        policy: RulesPolicy,
        notices: NoticeSender,
        catalog: CatalogLookup | None,
    ) -> None:
        self.repository = repository
        self.store = store
        self.policy = policy
        self.notices = notices
        self.catalog = catalog

    def _lapsed(self, record: MemberRecord, cert: CertificationRecord, on: date) -> bool:
        unmapped = catalog_ids_needed(record.facts)
        catalog = self.catalog(unmapped) if self.catalog and unmapped else None
        status = evaluate(cert.as_certification(), record.facts, on, self.policy, catalog)
        return status.status is Standing.LAPSED

    def draw(self, year: int, run_date: date, summary: DailySummary) -> None:
        if self.store.audit_draw(year) is not None:
            return
        pool = {f"{item['member_id']}#{item['credential']}": item for item in self.store.audit_pool(year - 1)}
        seed = audit.audit_seed(year)
        chosen = audit.draw(pool, self.policy.audit_rate, seed)
        deadline = audit.deadline(run_date, self.policy)
        skipped: list[str] = []
        failed = 0
        for entry in chosen:
            try:
                if not self._one(pool[entry], year, run_date, deadline=deadline, seed=seed, summary=summary):
                    skipped.append(entry)  # lapsed since the cycle ended: nothing left to audit
            except Exception:  # isolate like members; the draw is recorded only once all went through
                logger.exception("audit draw: member failed", extra={"member_id": pool[entry]["member_id"]})
                failed += 1
        if failed:
            summary.failed += failed
            return
        self.store.record_audit_draw(
            year,
            {
                "seed": seed,
                "pool_year": year - 1,
                "pool_size": len(pool),
                "rate": str(self.policy.audit_rate),
                "selected": chosen,
                "skipped_lapsed": skipped,
                "drawn_on": run_date.isoformat(),
                "deadline": deadline.isoformat(),
            },
        )

    def _one(
        self,
        item: Mapping[str, Any],
        year: int,
        run_date: date,
        *,
        deadline: date,
        seed: str,
        summary: DailySummary,
    ) -> bool:
        """Draw one chosen cycle: its ``AuditDrawn`` fact, notice and due date; False if skipped."""
        member_id, credential = str(item["member_id"]), str(item["credential"])
        record = self.repository.load(member_id)
        cert = record.certifications.get(credential) if record else None
        if record is None or cert is None or self._lapsed(record, cert, run_date):
            return False
        fact = AuditDrawn(
            key=audit.audit_id(year, member_id, credential),
            recorded_on=run_date,
            audit_id=audit.audit_id(year, member_id, credential),
            credential=credential,
            cycle_start=date.fromisoformat(str(item["cycle_start"])),
            cycle_end=date.fromisoformat(str(item["cycle_end"])),
            drawn_on=run_date,
            deadline=deadline,
            seed=seed,
        )
        if self.repository.record_fact(member_id, fact) is WriteOutcome.CREATED:
            summary.audits_drawn += 1
        notice = NoticeDue(
            kind=schedule.AUDIT,
            period=str(year),
            on=run_date,
            data={
                "audit_id": fact.audit_id,
                "cycle_start": fact.cycle_start.isoformat(),
                "cycle_end": fact.cycle_end.isoformat(),
                "deadline": fact.deadline.isoformat(),
                "seed": seed,
            },
        )
        self.notices.send(record.profile, credential, notice, run_date, summary)
        if cert.due_on is not None and cert.due_on > fact.deadline:
            # the missed-deadline check (R7c) must come first: pull the next action date forward
            moved = CertificationRecord(
                credential=credential,
                certified_on=cert.certified_on,
                due_on=fact.deadline + timedelta(days=1),
            )
            self.store.set_next_due(member_id, moved, cert.due_on)
        return True
