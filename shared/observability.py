"""Powertools Logger, Tracer and Metrics, and the one decorator stack every handler wears.

Order (outermost first): logger context with correlation id -> metrics flush -> tracer segment,
as in the Lambda handler cookbook. Tracing is disabled outside Lambda via POWERTOOLS_TRACE_DISABLED.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "staycert"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="StayCertified", service=SERVICE)

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
