"""S3 ObjectCreated on the files bucket: ``ce-batches/{provider_id}/{file}.csv`` (provider CE batches),
``evidence/{member_id}/{purpose}/{file}`` (audit/recertification documents) and
``roster-imports/[dry-run/]{name}.csv`` (bulk roster import with opening balances).

Async invocation: failures are retried by Lambda (bounded by the template's EventInvokeConfig) and
then land in the on-failure queue. Both paths are idempotent, so a redelivered event is harmless.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.files import FilesBucket
from shared.clock import business_today
from shared.config.ce import get_ce_settings
from shared.config.settings import get_policy, get_settings
from shared.observability import BusinessMetric, lambda_entry, logger
from shared.observability import record as record_metric
from shared.services.ce_batches import BATCH_PREFIX, CsvBatchIngest
from shared.services.ce_evidence import EVIDENCE_PREFIX, EvidenceIntake
from shared.services.members import MemberService
from shared.services.roster_file import IMPORT_PREFIX
from shared.services.roster_import import ImportIncomplete, RosterImport
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository


@lambda_entry()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    today = business_today(settings.zone)
    members = MemberRepository(settings.table_name)
    results: list[dict[str, Any]] = []
    for record in S3Event(event).records:
        raw_key = record.s3.get_object.key
        key = unquote_plus(raw_key)
        version = record.s3.get_object.get("versionId")
        files = FilesBucket(record.s3.bucket.name)
        if key.startswith(BATCH_PREFIX):
            outcome = CsvBatchIngest(
                members,
                files,
                get_policy(),
                catalog=CatalogRepository(settings.table_name),
                max_bytes=get_ce_settings().ce_batch_max_bytes,
            ).ingest(key, today, version)
            if outcome.get("accepted"):
                record_metric(BusinessMetric.CE_CREDITED, outcome["accepted"], dimension=("source", "csv"))
            if outcome.get("rejected"):
                record_metric(
                    BusinessMetric.CE_REFUSED, len(outcome["rejected"]), dimension=("source", "csv")
                )
            results.append(
                {
                    "key": key,
                    "accepted": outcome.get("accepted"),
                    "rejected": len(outcome.get("rejected", [])),
                }
            )
        elif key.startswith(IMPORT_PREFIX):
            service = RosterImport(MemberService(members, get_policy()), files)
            report = service.run(key, today, version, deadline=lambda: _out_of_time(context))
            if "incomplete" in report:  # Lambda retries the event; the retry continues after the done chunks
                raise ImportIncomplete(report["incomplete"])
            results.append(
                {
                    "key": key,
                    "accepted": report.get("accepted"),
                    "unchanged": report.get("unchanged"),
                    "refused": len(report.get("refused", [])),
                }
            )
        elif key.startswith(EVIDENCE_PREFIX):
            result = EvidenceIntake(members, CatalogRepository(settings.table_name), files).process(
                raw_key, today, version
            )
            results.append({"key": key, "recorded": result.recorded, "reason": result.reason})
        else:
            logger.warning("upload outside the known prefixes ignored", extra={"key": key})
            results.append({"key": key, "ignored": True})
    return {"results": results}


# A chunk of the roster import (250 members: ~3 BatchGetItem + ~30 BatchWriteItem) takes a second or
# two on DynamoDB; stop starting new ones with this much of the invocation left.
IMPORT_STOP_MARGIN_MS = 20_000


def _out_of_time(context: LambdaContext) -> bool:
    return bool(context.get_remaining_time_in_millis() < IMPORT_STOP_MARGIN_MS)
