"""Credly Web Service API client: issue, look up and revoke badges; fetch webhook events.

HTTP with ``urllib3`` rather than ``requests``: urllib3 already ships in the Lambda runtime with
botocore, so the layer gains no dependency (``requests`` would add itself plus charset-normalizer,
idna and certifi to every cold start) while keeping a pooled, timeout-aware client.

Authentication: HTTP Basic with the organization's authorization token as the user name and an empty
password. Base URL is configurable (production ``https://api.credly.com/v1``, the sandbox, or the local
fake). 429, 5xx, timeouts and dropped connections are retried by urllib3's ``Retry`` (bounded
attempts, exponential backoff with jitter capped at 8 s, ``Retry-After`` honoured up to 30 s); an
unreadable body is retried on the same budget. Then ``CredlyUnavailable``, so the stream record fails
and is retried or parked. 422 on issue is Credly's duplicate-badge rejection: ``DuplicateBadge``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

DEFAULT_BASE_URL = "https://api.credly.com/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 30


class _CredlyRetry(Retry):
    """urllib3's ``Retry``, waiting through ``pause`` (tests record the waits instead of sleeping).
    ``Retry-After`` counts on every retried status, and one that is not a number or date falls back to
    the backoff instead of failing the call."""

    RETRY_AFTER_STATUS_CODES = RETRY_STATUSES

    def __init__(self, *args: Any, pause: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause

    def new(self, **kwargs: Any) -> Self:
        return super().new(pause=self.pause, **kwargs)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = None
        if response is not None and self.respect_retry_after_header:
            try:
                wait = self.get_retry_after(response)  # capped at ``retry_after_max``
            except InvalidHeader:
                wait = None
        self.pause(wait if wait else self.get_backoff_time())


class CredlyError(Exception):
    """A non-retryable answer (4xx other than 429, or a response we cannot use)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class CredlyUnavailable(CredlyError):
    """Still 429/5xx/timeouts after the bounded retries."""


class DuplicateBadge(CredlyError):
    """422 on issue: Credly already holds this badge (same template and earner)."""


@dataclass(frozen=True)
class Badge:
    id: str
    state: str
    badge_template_id: str | None = None
    issuer_earner_id: str | None = None
    recipient_email: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Badge:
        template = data.get("badge_template")
        template_id = template.get("id") if isinstance(template, Mapping) else data.get("badge_template_id")
        return cls(
            id=str(data["id"]),
            state=str(data.get("state") or "pending"),
            badge_template_id=template_id,
            issuer_earner_id=data.get("issuer_earner_id"),
            recipient_email=data.get("recipient_email"),
        )


@dataclass(frozen=True)
class BadgeRequest:
    recipient_email: str
    first_name: str
    last_name: str
    badge_template_id: str
    issued_at: str  # "YYYY-MM-DD HH:MM:SS +hhmm", Credly's documented format
    issuer_earner_id: str
    expires_at: str | bool | None = None  # None: the template's default; False: never expires

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "recipient_email": self.recipient_email,
            "issued_to_first_name": self.first_name,
            "issued_to_last_name": self.last_name,
            "badge_template_id": self.badge_template_id,
            "issued_at": self.issued_at,
            "issuer_earner_id": self.issuer_earner_id,
        }
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        return body


class CredlyClient:
    """``token`` is a callable so a rotated token is read from the secret cache on each call."""

    def __init__(
        self,
        base_url: str,
        organization_id: str,
        token: Callable[[], str],
        *,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if not organization_id.strip():
            raise ValueError("a Credly organization id is required (paths are /organizations/{id}/...)")
        self.base_url = base_url.rstrip("/")
        self.organization_id = organization_id
        self._token = token
        self.max_attempts = max(1, max_attempts)
        self.timeout = urllib3.Timeout(connect=min(timeout, 3.0), read=timeout)
        self._retry = _CredlyRetry(
            total=self.max_attempts - 1,
            # POST too: an issue repeated after a lost answer meets Credly's duplicate answer (422)
            allowed_methods=None,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_base,
            backoff_jitter=backoff_base,
            backoff_max=MAX_BACKOFF_SECONDS,
            retry_after_max=MAX_RETRY_AFTER_SECONDS,
            raise_on_status=False,  # the last 429/5xx is answered to ``_call``, which raises
            pause=sleep,
        )
        self._pool = pool or urllib3.PoolManager(retries=False)

    # ------------------------------------------------------------------ API

    def issue(self, request: BadgeRequest) -> Badge:
        status, body = self._call("POST", self._org_path("badges"), request.payload())
        if status == 422:
            raise DuplicateBadge("Credly refused the badge as a duplicate", status, body)
        return Badge.from_data(self._data(status, body, expect=(200, 201)))

    def find_badges(self, badge_template_id: str, issuer_earner_id: str) -> list[Badge]:
        """Badges of a template for one earner. Also filtered here, whatever the server's filter does."""
        query = urlencode(
            {"filter": f"badge_template_id::{badge_template_id}|issuer_earner_id::{issuer_earner_id}"}
        )
        status, body = self._call("GET", f"{self._org_path('badges')}?{query}", None)
        data = body.get("data") if isinstance(body, dict) else None
        if status != 200 or not isinstance(data, list):
            raise CredlyError(f"badge lookup answered {status}", status, body)
        badges = [Badge.from_data(item) for item in data if isinstance(item, Mapping) and "id" in item]
        return [
            b
            for b in badges
            if b.badge_template_id in (None, badge_template_id)
            and b.issuer_earner_id in (None, issuer_earner_id)
        ]

    def revoke(self, badge_id: str, reason: str) -> Badge | None:
        """Revoke; returns the badge when Credly sends it back. 422 (already revoked) is re-read."""
        path = self._org_path(f"badges/{quote(badge_id, safe='')}/revoke")
        status, body = self._call(
            "PUT", path, {"reason": reason, "suppress_revoke_notification_email": False}
        )
        if status == 422:
            current = self.get_badge(badge_id)
            if current.state == "revoked":
                return current
            raise CredlyError(f"revoke refused for badge {badge_id}", status, body)
        data = self._data(status, body, expect=(200, 201, 204), allow_empty=True)
        return Badge.from_data(data) if data else None

    def get_badge(self, badge_id: str) -> Badge:
        status, body = self._call("GET", self._org_path(f"badges/{quote(badge_id, safe='')}"), None)
        return Badge.from_data(self._data(status, body, expect=(200,)))

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """A webhook event as Credly holds it; None when Credly does not know it (404)."""
        status, body = self._call("GET", self._org_path(f"events/{quote(event_id, safe='')}"), None)
        if status == 404:
            return None
        return self._data(status, body, expect=(200,))

    # ------------------------------------------------------------------ plumbing

    def _org_path(self, rest: str) -> str:
        return f"/organizations/{quote(self.organization_id, safe='')}/{rest}"

    def _headers(self) -> dict[str, str]:
        credentials = base64.b64encode(f"{self._token()}:".encode()).decode("ascii")
        return {
            "Authorization": f"Basic {credentials}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> tuple[int, Any]:
        """One request with bounded retries on 429/5xx/timeouts/garbled bodies: (status, parsed body)."""
        url = self.base_url + path
        data = json.dumps(payload).encode() if payload is not None else None
        retry: Retry = self._retry
        while True:
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=data,
                    headers=self._headers(),
                    timeout=self.timeout,
                    retries=retry,
                    redirect=False,
                )
            except Urllib3Error as error:  # timeouts, refused or dropped connections on every attempt
                cause = error.reason if isinstance(error, MaxRetryError) else error
                raise self._unavailable(method, path, type(cause).__name__) from None
            if response.status in RETRY_STATUSES:  # the retries are spent
                raise self._unavailable(method, path, f"status {response.status}")
            try:
                return response.status, json.loads(response.data) if response.data else None
            except ValueError:
                # urllib3 retries statuses and errors, not bodies: a garbled one spends the same budget
                try:
                    retry = (response.retries or retry).increment(method, url, response=response)
                except MaxRetryError:
                    raise self._unavailable(
                        method, path, f"unreadable body with status {response.status}"
                    ) from None
                retry.sleep()

    def _unavailable(self, method: str, path: str, last: str) -> CredlyUnavailable:
        return CredlyUnavailable(f"Credly {method} {path}: {last} after {self.max_attempts} attempts")

    @staticmethod
    def _data(status: int, body: Any, expect: tuple[int, ...], allow_empty: bool = False) -> dict[str, Any]:
        if status not in expect:
            raise CredlyError(f"Credly answered {status}", status, body)
        if body is None and allow_empty:
            return {}
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or ("id" not in data and not allow_empty):
            raise CredlyError(f"Credly answered {status} without data.id", status, body)
        return data
