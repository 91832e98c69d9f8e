"""Powertools Logger, Tracer and Metrics, and the one decorator stack every handler wears.

Order (outermost first): logger context with correlation id -> metrics flush -> tracer segment,
as in the Lambda handler cookbook. Tracing is disabled outside Lambda via POWERTOOLS_TRACE_DISABLED.

Business metrics: every metric the code emits is a member of ``BusinessMetric`` and goes through
``record`` (a test fails any other ``add_metric`` call, and checks that every member is on the
dashboard in template.yaml). Metrics without a dimension join the handler's metric set, flushed by
``lambda_entry``; a metric with a dimension (``source``, ``channel``, ``standing``) is flushed at once
as its own EMF line, because one EMF document carries one dimension set for all its metrics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = "staycert"

logger = Logger(service=SERVICE)
# In Lambda (Tracing: Active) Powertools patches every library X-Ray supports that is installed,
# importing each at cold start (requests, sqlite3, ...). Every outside call this code makes goes
# through botocore (AWS) or http.client (urllib3: Credly; requests under the Stripe SDK), so those two
# are traced and nothing else is imported for tracing.
TRACED_MODULES = ("botocore", "httplib")
tracer = Tracer(service=SERVICE, patch_modules=TRACED_MODULES)
NAMESPACE = "StayCertified"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# A request that records no business metric is normal (a status read); Powertools warns on every
# such flush, which only adds noise to the logs.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def lambda_entry(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Wrap a Lambda handler with logging context, metrics flushing and tracing."""

    def decorate(handler: Handler) -> Handler:
        traced = tracer.capture_lambda_handler(handler)
        measured = metrics.log_metrics(traced)
        logged = logger.inject_lambda_context(measured, correlation_id_path=correlation_id_path)
        return cast(Handler, logged)

    return decorate


class BusinessMetric(StrEnum):
    """Every metric the functions emit (namespace ``StayCertified``); docs/operations.md reads them."""

    PAYMENTS_CREDITED = "PaymentsCredited"
    PAYMENTS_PARKED = "PaymentsParked"
    PAYMENTS_REVERSED = "PaymentsReversed"
    # a payment held for staff (wrong amount or currency, invoice unknown or already paid), or a signed
    # Stripe event the webhook could not process (an error reached the handler): staff look
    PAYMENT_EXCEPTIONS = "PaymentExceptions"
    CE_CREDITED = "CeCredited"  # dimension source: xapi | csv
    CE_REFUSED = "CeRefused"  # dimension source: xapi | csv
    UPLOADS_QUARANTINED = "UploadsQuarantined"  # dimension source: evidence | csv
    NOTICES_SENT = "NoticesSent"  # dimension channel: email | mail
    TRANSITIONS = "Transitions"  # dimension standing: the new standing
    BADGES_ISSUED = "BadgesIssued"
    BADGES_REVOKED = "BadgesRevoked"
    CREDLY_FAILURES = "CredlyFailures"
    DAILY_RUN_COMPLETED = "DailyRunCompleted"  # the heartbeat: one per completed run
    DAILY_RUN_DURATION = "DailyRunDuration"  # seconds
    CERTIFICATIONS_EVALUATED = "CertificationsEvaluated"


def record(
    metric: BusinessMetric,
    value: float = 1,
    unit: MetricUnit = MetricUnit.Count,
    dimension: tuple[str, str] | None = None,
) -> None:
    """Emit one business metric (EMF through Powertools; off when POWERTOOLS_METRICS_DISABLED)."""
    if is_metrics_disabled():
        # Powertools only skips the print when disabled and keeps the metric set: in a long-lived
        # process (the local stack, the tests) it would grow with every invocation.
        return
    if dimension is None:
        metrics.add_metric(name=metric.value, unit=unit, value=value)
        return
    single = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
    single.add_dimension(name=dimension[0], value=dimension[1])
    single.add_metric(name=metric.value, unit=unit, value=value)
    single.flush_metrics()
