"""A fake Credly Web Service API on loopback (local only: the local stack and the tests).

A real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, port chosen by the OS) that answers like
Credly for the calls we make: issue (201 ``{"data": {...}}``; 422 for a duplicate - same template and
same e-mail or ``issuer_earner_id`` as a badge that is not revoked), list with ``filter``, get, revoke,
and ``GET .../events/{id}`` for webhook confirmation. It checks Basic auth (token as user name,
empty password) and records every request. ``fail_next`` makes the next N requests answer 429/500,
hang past the client's timeout (``hang``: before doing anything; ``late``: after doing it - the
client times out on a request Credly did carry out), drop the connection, or return a garbled body
(after doing the request).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from local.loopback import LoopbackServer, ServesLoopback, send_json, send_raw

Failure = Literal["429", "500", "hang", "late", "garbled", "drop"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeCredly(ServesLoopback):
    organization_id: str = "local-org"
    token: str = "local-credly-token"  # noqa: S105 - the documented local default
    hang_seconds: float = 2.0
    retry_after: str | None = None  # the Retry-After header sent with the 429/500 failures, if any
    badges: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[tuple[Failure, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: LoopbackServer | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        self._release.set()  # a request held by fail_next("hang") returns
        super().stop()

    def fail_next(self, failure: Failure, times: int = 1, only: str | None = None) -> None:
        """The next ``times`` requests (whose method+path contains ``only``, if given) fail."""
        with self._lock:
            self._failures.extend([(failure, only)] * times)

    def stop_failing(self) -> int:
        """Forget the failures still queued (the outage is over); how many there were."""
        with self._lock:
            left = len(self._failures)
            self._failures.clear()
        return left

    def issued(self, state: str | None = None) -> list[dict[str, Any]]:
        return [b for b in self.badges.values() if state is None or b["state"] == state]

    def change_state(self, badge_id: str, state: str) -> str:
        """The earner accepts/rejects: update the badge and create a ``badge.state.changed`` event."""
        badge = self.badges[badge_id]
        badge["state"] = state
        event_id = str(uuid.uuid4())
        self.events[event_id] = {
            "id": event_id,
            "organization_id": self.organization_id,
            "event_type": "badge.state.changed",
            "occurred_at": _now(),
            "badge": dict(badge),
        }
        return event_id

    # ------------------------------------------------------------------ serving

    def _take_failure(self, method: str, path: str) -> Failure | None:
        with self._lock:
            for index, (failure, only) in enumerate(self._failures):
                if only is None or only in f"{method} {path}":
                    del self._failures[index]
                    return failure
        return None

    def _handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("latin-1")
        self.requests.append(
            RecordedRequest(method, parts.path, parse_qs(parts.query), dict(http.headers.items()), body)
        )
        failure = self._take_failure(method, parts.path)
        if failure == "hang":
            self._release.wait(self.hang_seconds)
            return self._send(http, 503, {"message": "late"})
        if failure == "drop":
            http.close_connection = True
            return None
        if failure in ("429", "500"):
            retry_after = {"Retry-After": self.retry_after} if self.retry_after is not None else None
            return send_json(http, int(failure), {"message": "try again"}, retry_after)
        expected = "Basic " + base64.b64encode(f"{self.token}:".encode()).decode()
        if http.headers.get("Authorization") != expected:
            return self._send(http, 401, {"message": "unauthorized"})
        status, answer = self._route(method, parts.path, parse_qs(parts.query), body)
        if failure == "late":  # done, but answered after the client gave up
            self._release.wait(self.hang_seconds)
            return self._send(http, status, answer)
        if failure == "garbled":
            return self._send_raw(http, status, b"<html>gateway says hi")
        return self._send(http, status, answer)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if len(segments) < 3 or segments[0] != "organizations" or segments[1] != self.organization_id:
            return 404, {"message": "not found"}
        rest = segments[2:]
        with self._lock:
            if rest == ["badges"] and method == "POST":
                return self._issue(body if isinstance(body, dict) else {})
            if rest == ["badges"] and method == "GET":
                return 200, {"data": self._filter(query.get("filter", [""])[0]), "metadata": {}}
            if len(rest) == 2 and rest[0] == "badges" and method == "GET":
                found = self.badges.get(rest[1])
                return (200, {"data": found}) if found else (404, {"message": "not found"})
            if len(rest) == 3 and rest[0] == "badges" and rest[2] == "revoke" and method == "PUT":
                found = self.badges.get(rest[1])
                if found is None:
                    return 404, {"message": "not found"}
                if found["state"] == "revoked":
                    return 422, {"message": "badge already revoked"}
                found.update(state="revoked", revoke_reason=(body or {}).get("reason"), revoked_at=_now())
                return 200, {"data": found}
            if len(rest) == 2 and rest[0] == "events" and method == "GET":
                event = self.events.get(rest[1])
                return (200, {"data": event}) if event else (404, {"message": "not found"})
        return 404, {"message": "not found"}

    def _issue(self, body: dict[str, Any]) -> tuple[int, Any]:
        required = (
            "recipient_email",
            "issued_to_first_name",
            "issued_to_last_name",
            "badge_template_id",
            "issued_at",
        )
        missing = [name for name in required if not body.get(name)]
        if missing:
            return 422, {"message": f"missing {', '.join(missing)}"}
        for badge in self.badges.values():
            same_earner = badge["recipient_email"] == body["recipient_email"] or (
                body.get("issuer_earner_id") and badge.get("issuer_earner_id") == body.get("issuer_earner_id")
            )
            if (
                badge["badge_template"]["id"] == body["badge_template_id"]
                and same_earner
                and badge["state"] != "revoked"
            ):
                return 422, {"message": "User already has this badge"}
        badge_id = str(uuid.uuid4())
        badge = {
            "id": badge_id,
            "state": "pending",
            "badge_template": {"id": body["badge_template_id"]},
            "recipient_email": body["recipient_email"],
            "issued_to_first_name": body["issued_to_first_name"],
            "issued_to_last_name": body["issued_to_last_name"],
            "issuer_earner_id": body.get("issuer_earner_id"),
            "issued_at": body["issued_at"],
            "expires_at": body.get("expires_at"),
        }
        self.badges[badge_id] = badge
        return 201, {"data": badge}

    def _filter(self, expression: str) -> list[dict[str, Any]]:
        wanted = dict(part.split("::", 1) for part in expression.split("|") if "::" in part)
        found = []
        for badge in self.badges.values():
            fields = {
                "badge_template_id": badge["badge_template"]["id"],
                "issuer_earner_id": badge.get("issuer_earner_id"),
                "recipient_email": badge["recipient_email"],
                "state": badge["state"],
            }
            if all(fields.get(key) == value for key, value in wanted.items()):
                found.append(badge)
        return found

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        send_json(http, status, body)

    @staticmethod
    def _send_raw(http: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        send_raw(http, status, data)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@contextmanager
def running(**kwargs: Any) -> Iterator[FakeCredly]:
    fake = FakeCredly(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
