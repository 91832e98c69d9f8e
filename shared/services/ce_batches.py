"""Provider CSV batches (S3 ``ce-batches/{provider_id}/{file}.csv``) → CE facts and a result file.

DynamoDB cost: pattern 20 of docs/data-model.md (one read per distinct member, the catalog entries of
the file's activities, one BatchWriteItem per 25 new facts). Fact keys derive from the provider and
the certificate id, or the file and line (``shared.rules.fact_keys.csv_row_fact_key``), and rows
already recorded are not written again, so a re-upload or a redelivered S3 event credits nothing
twice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.adapters.csv_batches import BadFile, CsvRow, Rejection, parse_rows
from shared.adapters.files import FilesBucket, match_upload_key
from shared.observability import BusinessMetric, logger
from shared.observability import record as record_metric
from shared.rules.ce_acceptance import rejection_by_every_certification
from shared.rules.fact_keys import csv_row_fact_key
from shared.rules.models import ActivitySpec, CeCompletion
from shared.rules.policy import RulesPolicy
from shared.services.ce_evidence import quarantine_upload
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository
from shared.store.records import MemberRecord

BATCH_PREFIX = "ce-batches/"
RESULT_PREFIX = "ce-batches-results/"
_KEY = re.compile(
    r"^ce-batches/(?P<provider>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})/(?P<file>[A-Za-z0-9][A-Za-z0-9_.() -]{0,200})\.csv$"
)
LOAD_WORKERS = 8
PROGRESS_EVERY = 500  # members loaded between progress log lines


@dataclass(frozen=True)
class BatchKey:
    provider_id: str
    file: str

    @property
    def result_key(self) -> str:
        return f"{RESULT_PREFIX}{self.provider_id}/{self.file}.json"


def parse_batch_key(key: str) -> BatchKey | None:
    match = match_upload_key(_KEY, key)
    return None if match is None else BatchKey(match["provider"], match["file"])


class CsvBatchIngest:
    def __init__(
        self,
        members: MemberRepository,
        files: FilesBucket,
        policy: RulesPolicy,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
        *,
        catalog: CatalogRepository | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.members = members
        self.files = files
        self.policy = policy
        self.catalog = catalog or CatalogRepository(members.table_name)
        self.max_bytes = max_bytes
        self.progress = progress or (lambda message, extra: logger.info(message, extra=extra))

    def ingest(self, key: str, today: date, version_id: str | None = None) -> dict[str, Any]:
        batch = parse_batch_key(key)
        if batch is None:
            logger.warning(
                "CE batch key not of the form ce-batches/{provider_id}/{file}.csv", extra={"key": key}
            )
            return {"file": key, "error": "key must be ce-batches/{provider_id}/{file}.csv"}
        started = time.monotonic()
        result: dict[str, Any] = {
            "file": key,
            "provider_id": batch.provider_id,
            "processed_on": today.isoformat(),
            "rows": 0,
            "accepted": 0,
            "already_recorded": 0,
            "rejected": [],
        }
        info = self.files.info(key) if self.max_bytes is not None else None
        if info is not None and self.max_bytes is not None and info.size > self.max_bytes:
            result["error"] = (
                f"too large: {info.size} bytes (limit {self.max_bytes}); split it into smaller files"
            )
            quarantine_upload(self.catalog, self.files, key, result["error"], today, size=info.size)
            record_metric(BusinessMetric.UPLOADS_QUARANTINED, dimension=("source", "csv"))
            self.files.write_json(batch.result_key, result)
            return result
        try:
            rows, rejected, count = parse_rows(self.files.read(key, version_id))
        except BadFile as error:
            result["error"] = str(error)
            self.files.write_json(batch.result_key, result)
            return result
        result["rows"] = count
        self.progress("CE batch parsed", {"file": key, "rows": count, "malformed": len(rejected)})
        records = self._load_members(sorted({r.member_id for r in rows}))
        # the catalog's title and provider go on each fact (one BatchGetItem per 100 distinct
        # activities), so recording a self-report later needs no catalog read to tell a duplicate
        specs = self.catalog.get_activities({r.activity_id for r in rows}) if rows else {}
        facts: list[tuple[str, CeCompletion]] = []
        already = 0
        for row in rows:
            outcome = self._judge(batch, row, records.get(row.member_id), today, specs.get(row.activity_id))
            if isinstance(outcome, Rejection):
                rejected.append(outcome)
            elif outcome is None:
                already += 1
            else:
                facts.append((row.member_id, outcome))
        requests = self.members.put_facts(facts)
        result.update(
            accepted=len(facts),
            already_recorded=already,
            rejected=[{"line": r.line, "reason": r.reason} for r in sorted(rejected, key=lambda r: r.line)],
        )
        self.files.write_json(batch.result_key, result)
        elapsed = time.monotonic() - started
        self.progress(
            "CE batch done",
            {
                "file": key,
                "accepted": len(facts),
                "already_recorded": already,
                "rejected": len(rejected),
                "write_requests": requests,
                "seconds": round(elapsed, 2),
            },
        )
        return result

    def _load_members(self, member_ids: Sequence[str]) -> dict[str, MemberRecord | None]:
        """One Query per member, a few in parallel; progress logged every PROGRESS_EVERY members."""
        loaded: dict[str, MemberRecord | None] = {}
        with ThreadPoolExecutor(max_workers=LOAD_WORKERS) as pool:
            for done, (member_id, record) in enumerate(
                zip(member_ids, pool.map(self.members.load, member_ids), strict=True), start=1
            ):
                loaded[member_id] = record
                if done % PROGRESS_EVERY == 0:
                    self.progress("CE batch: members loaded", {"done": done, "of": len(member_ids)})
        return loaded

    def _judge(
        self,
        batch: BatchKey,
        row: CsvRow,
        member: MemberRecord | None,
        today: date,
        spec: ActivitySpec | None = None,
    ) -> CeCompletion | Rejection | None:
        """The fact to write, a rejection, or None when the row is already recorded."""
        if member is None:
            return Rejection(row.line, f"unknown member {row.member_id}")
        key = csv_row_fact_key(batch.provider_id, row.certificate_id, batch.file, row.line)
        for fact in member.facts:
            if isinstance(fact, CeCompletion) and fact.key == key:
                same = (fact.activity_id, fact.completed_on, fact.points, fact.category) == (
                    row.activity_id,
                    row.completed_on,
                    row.points,
                    row.category,
                )
                return (
                    None
                    if same
                    else Rejection(row.line, "certificate_id already recorded with other content")
                )
        reason = rejection_by_every_certification(
            member.certifications_in_order(), member.facts, row.completed_on, row.category, today, self.policy
        )
        if reason is not None:
            return Rejection(row.line, reason)
        return CeCompletion(
            key=key,
            recorded_on=today,
            activity_id=row.activity_id,
            completed_on=row.completed_on,
            points=row.points,
            category=row.category,
            source=f"csv:{batch.provider_id}/{batch.file}",
            certificate_id=row.certificate_id or None,
            title=spec.title if spec else None,
            provider=spec.provider_id if spec else None,
        )
