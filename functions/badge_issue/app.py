"""Table-stream consumer: the outbox of recertification (DynamoDB stream -> Lambda).

Per new item (INSERT; the event source mapping's FilterCriteria passes only these kinds):

* ``recertified`` fact -> issue the Credly badge (exactly once, see shared/services/badges.py);
* ``payment`` fact with ``purpose: recertification`` -> complete its application if ready (the fee
  may land before or after the decision/exam result), and reconcile its badge (a new payment after a
  refund puts the recertification back in force);
* ``payment_reversal`` / ``reversal_withdrawn`` fact -> when it concerns a recertification fee,
  reconcile that completion's badge (revoke while the fee is reversed, issue again when restored);
* ``transition`` event to ``lapsed`` -> revoke the credential's badge;
* ``badge_reconcile`` event (daily run: the recorded badges disagree with the standing) -> re-plan
  from a fresh read and revoke / issue again (shared/services/badge_reconciliation.py);
* ``audit_drawn`` fact -> index the audit by id for ``POST /audits/{audit_id}/decision``.

Anything else is skipped. Powertools ``BatchProcessor`` reports failed records as
``batchItemFailures`` (ReportBatchItemFailures): the others of the batch are not retried; with
bisect-on-error, bounded retries and record age, a poison record ends on the on-failure queue
instead of blocking the shard.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.credly import CredlyError
from shared.clock import business_today
from shared.config.integrations import eligibility_criteria
from shared.config.settings import get_policy, get_settings
from shared.observability import BusinessMetric, lambda_entry, logger
from shared.observability import record as record_metric
from shared.rules.models import AuditDrawn, FeePayment, PaymentReversal, Recertified, ReversalWithdrawn
from shared.services.audits import AuditService
from shared.services.badge_reconciliation import RECONCILE, BadgeReconciler
from shared.services.badge_records import LAPSED
from shared.services.badges import BadgeService, default_badge_service
from shared.services.catalog import CatalogService
from shared.services.recertification import RecertificationService
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository

# All-failed batches are reported like partial ones (the mapping retries/bisects them) instead of
# raising, so the local stack and Lambda see the same response shape.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class Consumer:
    """The services for one batch (built once per invocation; clients and secrets are cached)."""

    def __init__(self) -> None:
        settings = get_settings()
        self.today = business_today(settings.zone)
        repository = MemberRepository(settings.table_name)
        self.badges: BadgeService = default_badge_service(settings.table_name, get_policy(), settings.zone)
        self.recert = RecertificationService(
            repository,
            get_policy(),
            eligibility_criteria(),
            catalog=CatalogService(CatalogRepository(settings.table_name)).lookup,
        )
        self.audits = AuditService(repository, get_policy())
        self.reconciler = BadgeReconciler(self.badges)

    def handle(self, record: DynamoDBRecord) -> str:
        if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
            return "skipped"
        image: dict[str, Any] = record.dynamodb.new_image or {}
        kind, pk, body = image.get("kind"), str(image.get("pk", "")), image.get("body")
        if not pk.startswith("MEMBER#") or not isinstance(body, dict):
            return "skipped"
        member_id = pk.removeprefix("MEMBER#")
        sort_key = str(image.get("sk", ""))
        if kind == "recertified" and sort_key.startswith("FACT#"):
            self.badges.issue_for(member_id, Recertified.model_validate(body), self.today)
            return "badge"
        if kind == "payment" and sort_key.startswith("FACT#"):
            payment = FeePayment.model_validate(body)
            completed = self.recert.on_payment(member_id, payment, self.today)
            if completed and payment.application_id:
                self.badges.reconcile(member_id, payment.application_id, self.today)
            return "completed" if completed else "payment"
        if kind in ("payment_reversal", "reversal_withdrawn") and sort_key.startswith("FACT#"):
            change = (PaymentReversal if kind == "payment_reversal" else ReversalWithdrawn).model_validate(
                body
            )
            self.badges.on_fee_reversal(member_id, change, self.today)
            return "reversal"
        if kind == "transition" and (body.get("data") or {}).get("status") == "lapsed":
            credential = str(body.get("credential") or "")
            reason = str((body.get("data") or {}).get("reason") or body.get("summary") or LAPSED)
            self.badges.revoke_on_lapse(member_id, credential, reason, self.today)
            return "revoke"
        if kind == RECONCILE and sort_key.startswith("EVENT#"):
            self.reconciler.reconcile(member_id, str(body.get("credential") or ""), self.today)
            return "reconcile"
        if kind == "audit_drawn" and sort_key.startswith("FACT#"):
            self.audits.index(member_id, AuditDrawn.model_validate(body), self.today)
            return "audit"
        return "skipped"


@lambda_entry()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    consumer = Consumer()

    def record_handler(record: DynamoDBRecord) -> str:
        try:
            return consumer.handle(record)
        except CredlyError:
            record_metric(BusinessMetric.CREDLY_FAILURES)
            logger.exception(
                "stream record failed at Credly",
                extra={"sequence": record.dynamodb and record.dynamodb.sequence_number},
            )
            raise
        except Exception:
            logger.exception(
                "stream record failed",
                extra={"sequence": record.dynamodb and record.dynamodb.sequence_number},
            )
            raise

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
