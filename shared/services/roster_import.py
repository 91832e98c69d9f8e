"""Bulk roster import with opening balances (S3 ``roster-imports/{name}.csv``) → members and a report.
The file (keys, columns, row checks) is ``roster_file``.

One row per member-certification: the member fields of ``PUT /members/{id}``, the credential, its
``certified_on`` and its opening balance on the cutover date (README, "Bulk roster import"). Each
row goes through the same checks as ``PUT /members/{id}`` (:meth:`MemberService.plan`) and is
reported like a CE batch row: ``accepted``, ``unchanged`` (already imported: a re-upload changes
nothing) or refused with its line and reason. Nothing is overwritten: a row for a member who already
has facts or events in this system is refused.

``roster-imports/dry-run/{name}.csv`` writes nothing but the report, which then shows for each row
the standing it would get and what the next daily run would do (its notices and transition).

Cost (DynamoDB): one ``BatchGetItem`` per 100 members (profiles: who exists), one Query per member
that exists (their facts), one ``BatchWriteItem`` per 25 items (profile, certification rows,
opening balances, imported badges: about 3 items per row). Like ``PUT /members/{id}``, it then
credits what waited for the members it brought in (payments parked for them, LMS statements that
waited for their account or e-mail): after each chunk's writes, one Query of each of the two
listings says who has something waiting (read after the writes, so a payment or statement parked
meanwhile is either in the listing or finds the member), and only those members are looked up and
credited (``MemberService.credit_waiting``). Chunked: members are processed CHUNK_MEMBERS at a time and each chunk's
report is recorded as it completes (``shared.store.imports``: one item per chunk, per file content,
deleted once the report is whole); a run
that is cut short (the invocation's time, a crash) continues after the last completed chunk when it
is invoked again for the same file (Lambda's retries of the S3 event, or uploading the file again),
and the report is assembled from the parts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from shared.adapters.csv_batches import BadFile
from shared.adapters.files import FilesBucket
from shared.errors import DomainError
from shared.observability import logger
from shared.rules.models import Certification, CertificationStatus, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.schedule import notices_due
from shared.rules.status import evaluate
from shared.services.members import MemberService, UpsertPlan, Waiting
from shared.services.roster_file import RosterRow, parse_import_key, parse_roster
from shared.store.catalog import CatalogRepository
from shared.store.imports import ImportProgress
from shared.store.members import MemberRepository
from shared.store.payments import PaymentLedger
from shared.store.records import MemberRecord

CHUNK_MEMBERS = 250  # a chunk's report stays well under DynamoDB's 400 KB item limit


def next_run_preview(status: CertificationStatus, today: date, policy: RulesPolicy) -> dict[str, Any]:
    """What the next daily run (on ``today``) would do for a certification with this status: its
    notices, and the transition it records (none for a standing that took effect before the cutover)."""
    notices = [f"{n.kind}@{n.period}" for n in notices_due(status, today, policy)]
    transition = None
    if status.status is not Standing.ACTIVE:
        since = status.lapsed_on or status.fees.overdue_since or (status.ccp.cycle_end + timedelta(days=1))
        if status.cutover_on is None or since >= status.cutover_on:
            transition = f"{status.status.value} since {since.isoformat()}"
            if status.status is Standing.LAPSED:
                notices.append(f"lapse@{since.isoformat()}")
    return {"notices": notices, "transition": transition}


class ImportIncomplete(RuntimeError):
    """The invocation ran out of time: the chunks done are recorded; the next run continues."""


class RosterImport:
    def __init__(
        self,
        members: MemberService,
        files: FilesBucket,
        *,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.members = members
        self.repository: MemberRepository = members.repository
        self.files = files
        self.chunks = ImportProgress(self.repository.table_name, self.repository.client)
        self.ledger = PaymentLedger(self.repository.table_name, self.repository.client)
        self.statements = CatalogRepository(self.repository.table_name, self.repository.client)
        self.progress = progress or (lambda message, extra: logger.info(message, extra=extra))

    def run(
        self, key: str, today: date, version_id: str | None = None, deadline: Callable[[], bool] | None = None
    ) -> dict[str, Any]:
        """Import (or dry-run) one file; returns the report (also written to S3). ``deadline``: True
        when the invocation must stop; the report then says ``incomplete`` and the next run for the
        file continues after the last completed chunk."""
        target = parse_import_key(key)
        if target is None:
            logger.warning(
                "roster import key not of the form roster-imports/[dry-run/]{name}.csv", extra={"key": key}
            )
            return {"file": key, "error": "key must be roster-imports/[dry-run/]{name}.csv"}
        started = time.monotonic()
        report: dict[str, Any] = {
            "file": key,
            "dry_run": target.dry_run,
            "processed_on": today.isoformat(),
            "rows": 0,
            "accepted": 0,
            "unchanged": 0,
            "refused": [],
            "results": [],
        }
        data = self.files.read(key, version_id)
        digest = hashlib.sha256(data).hexdigest()[:16]
        try:
            rows, refused, count = parse_roster(data, self.members.policy.canonical_code)
        except BadFile as error:
            report["error"] = str(error)
            self.files.write_json(target.result_key, report)
            return report
        report["rows"] = count
        report["refused"] = [{"line": r.line, "reason": r.reason} for r in refused]
        by_member: dict[str, list[RosterRow]] = {}
        for row in rows:
            by_member.setdefault(row.member_id, []).append(row)
        member_ids = sorted(by_member)
        chunks = [member_ids[i : i + CHUNK_MEMBERS] for i in range(0, len(member_ids), CHUNK_MEMBERS)]
        requests = 0
        for number, chunk in enumerate(chunks):
            # a dry run keeps no progress (it writes nothing but its report): it starts over
            part = None if target.dry_run else self.chunks.done(target.result_key, digest, number)
            if part is None:
                if deadline is not None and deadline():
                    report["incomplete"] = (
                        f"stopped before chunk {number + 1} of {len(chunks)}; run again to continue"
                    )
                    break
                part, used = self._chunk(chunk, by_member, today, target.dry_run)
                requests += used
                if not target.dry_run:
                    self.chunks.record(target.result_key, digest, number, part)
                self.progress(
                    "roster import chunk done", {"file": key, "chunk": number + 1, "of": len(chunks)}
                )
            _merge(report, part)
        report["refused"].sort(key=lambda r: r["line"])
        report["results"].sort(key=lambda r: r["line"])
        self.files.write_json(target.result_key, report)
        if "incomplete" not in report and not target.dry_run:  # done: a later upload starts afresh
            for number in range(len(chunks)):
                self.chunks.forget(target.result_key, digest, number)
        self.progress(
            "roster import done",
            {
                "file": key,
                "rows": count,
                "accepted": report["accepted"],
                "unchanged": report["unchanged"],
                "refused": len(report["refused"]),
                "write_requests": requests,
                "seconds": round(time.monotonic() - started, 2),
            },
        )
        return report

    def _chunk(
        self,
        member_ids: Sequence[str],
        by_member: Mapping[str, list[RosterRow]],
        today: date,
        dry_run: bool,
    ) -> tuple[dict[str, Any], int]:
        existing = self._load(member_ids)
        part: dict[str, Any] = {"accepted": 0, "unchanged": 0, "refused": [], "results": []}
        plans: list[UpsertPlan] = []
        for member_id in member_ids:
            plan = self._member(
                member_id, by_member[member_id], existing.get(member_id), today, part, dry_run
            )
            if plan is not None:
                plans.append(plan)
        if dry_run:
            return part, 0
        written = self.repository.put_items(item for plan in plans for item in self.members.plan_items(plan))
        if plans:
            waiting = Waiting(
                parked=frozenset(self.ledger.parked_member_ids()),
                awaited=frozenset(self.statements.awaited()),
            )
            for plan in plans:
                self.members.credit_waiting(plan, today, waiting)
        return part, written

    def _load(self, member_ids: Sequence[str]) -> dict[str, MemberRecord]:
        """Members that exist (one BatchGetItem per 100 profiles), loaded whole (one Query each)."""
        found = self.repository.existing_members(member_ids)
        return {m: record for m in sorted(found) if (record := self.repository.load(m)) is not None}

    def _member(  # noqa: PLR0917 - one member's rows in the chunk's context
        self,
        member_id: str,
        rows: Sequence[RosterRow],
        existing: MemberRecord | None,
        today: date,
        part: dict[str, Any],
        dry_run: bool,
    ) -> UpsertPlan | None:
        """Judge each of the member's rows on its own, then plan the good ones together."""
        good: list[RosterRow] = []
        for row in rows:
            try:
                plan = self.members.plan(member_id, row.upsert, today, existing)
            except DomainError as error:
                part["refused"].append({"line": row.line, "reason": error.message})
                continue
            outcome = "accepted" if plan.facts else "unchanged"
            part[outcome] += 1
            status = next(iter(plan.standings.values()), None)  # the row's one certification
            result: dict[str, Any] = {"line": row.line, "member_id": member_id, "outcome": outcome}
            if status is not None:
                result["credential"] = status.credential
                result["standing"] = status.status.value
                result["lapsed_on"] = status.lapsed_on.isoformat() if status.lapsed_on else None
                if dry_run:
                    now = self._status_today(row, status.credential, today)
                    result["next_daily_run"] = {
                        "standing": now.status.value,
                        **next_run_preview(now, today, self.members.policy),
                    }
            part["results"].append(result)
            if outcome == "accepted":
                good.append(row)
        if not good:
            return None
        combined = good[0].upsert.model_copy(
            update={"certifications": [c for row in good for c in row.upsert.certifications]}
        )
        return self.members.plan(member_id, combined, today, existing)

    def _status_today(self, row: RosterRow, credential: str, today: date) -> CertificationStatus:
        cert = row.upsert.certifications[0]
        balance = cert.opening_balance.fact(credential) if cert.opening_balance else None
        return evaluate(
            Certification(credential=credential, certified_on=cert.certified_on),
            [balance] if balance else [],
            today,
            self.members.policy,
        )


def _merge(report: dict[str, Any], part: Mapping[str, Any]) -> None:
    report["accepted"] += part["accepted"]
    report["unchanged"] += part["unchanged"]
    report["refused"].extend(part["refused"])
    report["results"].extend(part["results"])
