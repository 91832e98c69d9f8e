"""A fake Stripe for payment links on loopback (local only: the local stack, the demo and the tests).

Why not localstripe (PyPI 1.15.10): payment links are Checkout Sessions (see
``shared.adapters.stripe_checkout`` for why), and localstripe has none - no ``/v1/checkout/sessions``,
no one-off invoices - and sends no ``charge.*`` events. Grafting sessions onto its aiohttp app would
tie us to its internals for the one endpoint we call, so this fake serves exactly that endpoint the
way Stripe does, for the official ``stripe`` SDK:

* ``POST /v1/checkout/sessions`` (form-encoded, ``Authorization: Bearer <key>``): the session with
  ``url``, ``metadata``, ``amount_total``, ``currency``; the ``Idempotency-Key`` replays the first
  answer (a different body under the same key: 400 ``idempotency_error``, as Stripe does);
* ``GET /v1/checkout/sessions/{id}``;
* ``POST /_fake/checkout/sessions/{id}/pay`` (control, JSON ``{"created": unix}`` optional): the member
  pays - the session gets a PaymentIntent and ``payment_status: paid``, and a ``checkout.session.completed``
  event signed with the webhook secret (Stripe's scheme) is POSTed to ``webhook_url``; answers the
  webhook's status and body.

``fail_next("429" | "500" | "drop", times)`` makes the next requests misbehave (429 with
``Retry-After: 7``). Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from local.loopback import LoopbackServer, ServesLoopback, send_json
from shared.adapters.signatures import sign

Failure = Literal["429", "500", "drop"]
_SESSION = re.compile(r"/v1/checkout/sessions/(?P<id>[A-Za-z0-9_]+)")
_PAY = re.compile(r"/_fake/checkout/sessions/(?P<id>[A-Za-z0-9_]+)/pay")
RETRY_AFTER = 7


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts (indices stay dict keys)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeStripe(ServesLoopback):
    api_key: str = "rk_test_staycert_local"  # the local restricted key (not a secret)
    webhook_url: str | None = None
    webhook_secret: str = "whsec_staycert_local_development_only"  # noqa: S105 - local default
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _replays: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    _failures: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackServer | None = None

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([failure] * times)

    def created_sessions(self) -> int:
        """How many ``POST /v1/checkout/sessions`` created a session (replays and failures excluded)."""
        return len(self.sessions)

    # ------------------------------------------------------------------ the member pays

    def complete(self, session_id: str, created: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The member pays: the session is paid (with a PaymentIntent) and its
        ``checkout.session.completed`` event is returned signed, as (body, headers) of the webhook."""
        with self._lock:
            session = self.sessions[session_id]
            stamp = created if created is not None else int(time.time())
            session.update(
                payment_status="paid",
                status="complete",
                payment_intent=session.get("payment_intent") or f"pi_{session_id.removeprefix('cs_')}",
                created=stamp,
            )
            event = {
                "id": f"evt_{session_id}",
                "object": "event",
                "api_version": "2024-06-20",
                "created": stamp,
                "type": "checkout.session.completed",
                "data": {"object": dict(session)},
                "livemode": False,
            }
        payload = json.dumps(event).encode()
        signature = sign(payload, self.webhook_secret, int(time.time()))
        return payload, {"Content-Type": "application/json", "Stripe-Signature": signature}

    def pay(self, session_id: str, created: int | None = None) -> tuple[int, Any]:
        """``complete`` and deliver the webhook to ``webhook_url``: (its status, its JSON body)."""
        if self.webhook_url is None:
            raise RuntimeError("no webhook_url to deliver to")
        payload, headers = self.complete(session_id, created)
        request = urllib.request.Request(  # noqa: S310 - loopback, our own local stack
            self.webhook_url, data=payload, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    # ------------------------------------------------------------------ serving

    def _handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(http.path).path
        raw = http.rfile.read(int(http.headers.get("Content-Length") or 0))
        if path.startswith("/_fake/"):
            match = _PAY.fullmatch(path)
            if method != "POST" or match is None or match["id"] not in self.sessions:
                return self._send(http, 404, {"error": {"message": "no such session"}})
            options = json.loads(raw or b"{}")
            status, body = self.pay(match["id"], options.get("created"))
            return self._send(http, 200, {"webhook_status": status, "webhook_body": body})
        body = unflatten(parse_qsl(raw.decode(), keep_blank_values=True))
        self.requests.append(RecordedRequest(method, path, dict(http.headers.items()), body))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure == "drop":
            http.close_connection = True
            return None
        if failure == "429":
            return self._send(
                http, 429, _error("rate_limit", "Too many requests"), {"Retry-After": str(RETRY_AFTER)}
            )
        if failure == "500":
            return self._send(http, 500, _error("api_error", "Something went wrong on Stripe's end"))
        if http.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(http, 401, _error("invalid_request_error", "Invalid API Key provided"))
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create(http, body)
        match = _SESSION.fullmatch(path)
        if method == "GET" and match is not None and match["id"] in self.sessions:
            return self._send(http, 200, self.sessions[match["id"]])
        return self._send(http, 404, _error("invalid_request_error", f"Unrecognized request URL ({path})"))

    def _create(self, http: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        key = http.headers.get("Idempotency-Key")
        with self._lock:
            if key is not None and key in self._replays:
                first_body, status, answer = self._replays[key]
                if first_body != body:
                    return self._send(
                        http,
                        400,
                        _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters",
                        ),
                    )
                return self._send(http, status, answer, {"Idempotent-Replayed": "true"})
            lines = list(dict(body.get("line_items") or {}).values())
            session_id = f"cs_test_{len(self.sessions) + 1:06d}"
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": body.get("mode", "payment"),
                "url": f"{self.url}/pay/{session_id}",
                "success_url": body.get("success_url"),
                "cancel_url": body.get("cancel_url"),
                "client_reference_id": body.get("client_reference_id"),
                "metadata": dict(body.get("metadata") or {}),
                "amount_total": sum(
                    int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1)) for line in lines
                ),
                "currency": lines[0]["price_data"]["currency"] if lines else None,
                "payment_status": "unpaid",
                "status": "open",
                "payment_intent": None,
                "created": int(time.time()),
            }
            self.sessions[session_id] = session
            if key is not None:
                self._replays[key] = (body, 200, session)
        return self._send(http, 200, session)

    @staticmethod
    def _send(
        http: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        send_json(http, status, body, headers)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}
