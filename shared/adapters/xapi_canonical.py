"""xAPI 1.0.3 statement identity: the canonical form two deliveries of one statement id are compared
on (§2.3.1) and the id assigned to a statement sent without one (§2.4.1). See docs/rules.md
"Statement ids and comparison"."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

# Properties that are not part of a statement's content when comparing two (xAPI 1.0.3 §2.3.1): the
# ones an LRS may assign (``id`` is the key itself, compared by the caller)
_NOT_CONTENT = ("id", "stored", "authority", "version")


def as_list(value: Any) -> Any:
    """A single context activity as the array of one it stands for."""
    return [value] if isinstance(value, dict) else value


def _instant(value: Any) -> Any:
    """A timestamp as the instant it names (UTC, millisecond precision); other values unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def _activity(value: Any) -> Any:
    """An Activity without its ``definition`` (not part of the statement, §2.3.1), typed."""
    if not isinstance(value, dict):
        return value
    return {"objectType": "Activity", **{k: v for k, v in value.items() if k != "definition"}}


def _canonical_context(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("contextActivities"), dict):
        return value
    activities = {
        kind: [_activity(a) for a in as_list(listed)] if isinstance(listed, dict | list) else listed
        for kind, listed in value["contextActivities"].items()
    }
    return {**value, "contextActivities": activities}


def _canonical_object(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        return _activity(value)
    if kind == "SubStatement":
        return _canonical_body(value)
    return value


def _canonical_body(raw: dict[str, Any]) -> dict[str, Any]:
    """The parts of a statement (or SubStatement) that are compared, in their canonical form."""
    body = {k: v for k, v in raw.items() if k not in _NOT_CONTENT}
    if isinstance(body.get("actor"), dict):
        body["actor"] = {"objectType": "Agent", **body["actor"]}
    if isinstance(body.get("verb"), dict):
        body["verb"] = {k: v for k, v in body["verb"].items() if k != "display"}
    if "object" in body:
        body["object"] = _canonical_object(body["object"])
    if "context" in body:
        body["context"] = _canonical_context(body["context"])
    if "timestamp" in body:
        body["timestamp"] = _instant(body["timestamp"])
    return body


def canonical_form(raw: dict[str, Any]) -> str:
    """A statement's content as xAPI 1.0.3 §2.3.1 compares it: the exceptions to immutability are
    not content, so they are left out or normalised - ``id``, ``stored``, ``authority``, ``version``
    left out, ``timestamp`` as its instant (UTC, milliseconds), verb ``display`` and activity
    ``definition`` left out, single context activities as arrays, default ``objectType``s spelled
    out, and keys sorted. Everything else (``result``, ``context``, extensions...) is compared as
    sent. Hand-written: no library we use implements the spec's comparison rules."""
    return json.dumps(_canonical_body(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(raw: dict[str, Any]) -> str:
    """The digest of the statement's canonical form: two deliveries of one statement id are the same
    statement exactly when their digests are equal."""
    return hashlib.sha256(canonical_form(raw).encode()).hexdigest()


# The namespace of the ids we assign to statements sent without one (a fixed, random UUID).
ASSIGNED_ID_NAMESPACE = UUID("6f1d0c1e-7f43-4a59-9a55-3c1f6c0b9e21")


def assigned_id(raw: dict[str, Any]) -> str:
    """The id an LRS assigns to a statement sent without one (§2.4.1): a UUID v5 over its canonical
    form, so a resend of the same statement gets the same id and is a duplicate."""
    return str(uuid5(ASSIGNED_ID_NAMESPACE, canonical_form(raw)))
