"""Stripe's webhook signature scheme, used for every signed callback (Stripe, the exam vendor).

Header ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``; the signature is HMAC-SHA256 over
``"{t}.{raw body}"`` with the endpoint secret. Any ``v1`` may match any accepted secret (rotation),
and the timestamp must be within ``tolerance`` seconds of the wall clock - in the past or future.

Hand-written rather than ``stripe.WebhookSignature``: the Stripe SDK is a large import for a cold
start, checks one secret at a time and accepts future timestamps. Tests sign with the official
``stripe`` library, so this verifier is checked against Stripe's own signing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence

DEFAULT_TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() accepts "²"


class SignatureError(Exception):
    """The request is not authentic; ``reason`` is safe to log (it never contains the header).
    Raised as is for a timestamp outside the tolerance; the subclasses say more."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedSignatureHeader(SignatureError):
    """No usable header: missing, or without a well-formed ``t=`` and a ``v1=``."""


class SignatureMismatch(SignatureError):
    """No ``v1`` matches an accepted secret: the one refusal a secret reload can cure."""


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            if not _TIMESTAMP.fullmatch(value):
                raise MalformedSignatureHeader("malformed timestamp")
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None:
        raise MalformedSignatureHeader("no timestamp in signature header")
    if not signatures:
        raise MalformedSignatureHeader("no v1 signature in signature header")
    return timestamp, signatures


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A header for ``payload`` (for our own test clients and the demo)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    header: str | None,
    payload: bytes,
    secrets: Sequence[str],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Return the signed timestamp, or raise ``SignatureError``."""
    if not header:
        raise MalformedSignatureHeader("missing signature header")
    timestamp, signatures = _parse(header)
    if timestamp < now - tolerance:
        raise SignatureError("timestamp outside tolerance (stale)")
    if timestamp > now + tolerance:
        raise SignatureError("timestamp outside tolerance (future)")
    signed = f"{timestamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    raise SignatureMismatch("no signature matches")


def verify_with_refresh(
    header: str | None,
    payload: bytes,
    load_secrets: Callable[[bool], Sequence[str]],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """``verify`` against cached secrets; on a mismatch only, reload them (a rotation happened since
    this warm function cached them) and try again. ``load_secrets(force)``.

    How often a forced reload really reaches Secrets Manager is not decided here: the secrets
    adapter (``shared.adapters.secrets``) allows one per secret name per interval, process-wide, and
    answers from its cache otherwise - so a stream of bad signatures cannot turn into a stream of
    Secrets Manager calls, whichever caller receives it. Unchanged values are not tried twice."""
    cached = list(load_secrets(False))
    try:
        return verify(header, payload, cached, now, tolerance)
    except SignatureMismatch:
        refreshed = list(load_secrets(True))
        if refreshed == cached:
            raise
    return verify(header, payload, refreshed, now, tolerance)
