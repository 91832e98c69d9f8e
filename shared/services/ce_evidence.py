"""Evidence uploads (S3 ``evidence/{member_id}/{purpose}/{file}``) for an open audit or an open
recertification application — anything else is moved to ``quarantine/`` with a recorded reason.

Limits (docs/rules.md "Evidence uploads"): at most ``MAX_BYTES`` (10 MiB); PDF, JPEG or PNG — the
declared content type AND the file's first bytes must agree. Keys are checked for path tricks
(``..``, ``//``, backslashes, left-over percent-encoding, control characters).

For recertification and audits: :func:`record_evidence` records an evidence EventRecord
(kind ``evidence``) against an audit or application id; :func:`open_audits` and
:func:`open_applications` tell what is open in a loaded member partition.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import unquote_plus

from shared.adapters.files import FilesBucket
from shared.observability import BusinessMetric, logger
from shared.observability import record as record_metric
from shared.rules.ids import ACTIVITY_ID_PATTERN, is_member_id
from shared.rules.models import AuditDecided, AuditDrawn
from shared.store.catalog import CatalogRepository, QuarantineRecord
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.recert import APPLICATION_KIND, EVIDENCE_KIND
from shared.store.records import EventRecord, MemberRecord

EVIDENCE_PREFIX = "evidence/"
QUARANTINE_PREFIX = "quarantine/"
MAX_BYTES = 10 * 1024 * 1024
_MAX_S3_KEY_BYTES = 1024
CONTENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
Purpose = Literal["audit", "recertification"]
_ACTIVITY_ID = re.compile(ACTIVITY_ID_PATTERN)
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,200}$")


@dataclass(frozen=True)
class EvidenceKey:
    member_id: str
    purpose: Purpose
    file: str
    activity_id: str | None = None  # audit evidence for one self-reported activity


def parse_evidence_key(key: str) -> EvidenceKey | str:
    """The parts of a decoded key, or why it is refused."""
    if any(ord(ch) < 32 or ch == "\\" for ch in key) or "%" in key:
        return "unsafe key (control characters, backslashes or percent-encoding)"
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "unsafe key (empty, '.' or '..' path segment)"
    if len(parts) not in (4, 5) or parts[0] != "evidence" or (len(parts) == 5 and parts[2] != "audit"):
        return "key must be evidence/{member_id}/{purpose}/{file} or evidence/{member_id}/audit/{activity_id}/{file}"
    member_id, purpose, file = parts[1], parts[2], parts[-1]
    activity_id = parts[3] if len(parts) == 5 else None
    if activity_id is not None and not _ACTIVITY_ID.fullmatch(activity_id):
        return "malformed activity id"
    if not is_member_id(member_id):
        return "malformed member id"
    if purpose not in ("audit", "recertification"):
        return f"unknown purpose {purpose!r} (audit or recertification)"
    if not _FILE_NAME.fullmatch(file):
        return "file name not allowed (letters, digits, space, ._()- only)"
    return EvidenceKey(member_id, purpose, file, activity_id)  # type: ignore[arg-type]


def open_audits(member: MemberRecord) -> list[AuditDrawn]:
    """AuditDrawn facts with no AuditDecided for their audit id, newest first."""
    decided = {f.audit_id for f in member.facts if isinstance(f, AuditDecided)}
    drawn = [f for f in member.facts if isinstance(f, AuditDrawn) and f.audit_id not in decided]
    return sorted(drawn, key=lambda f: (f.drawn_on, f.audit_id), reverse=True)


def open_applications(member: MemberRecord) -> list[EventRecord]:
    """Recertification applications (``recert_application`` events) still open, newest first."""
    found = [e for e in member.events if e.kind == APPLICATION_KIND and e.data.get("status") == "open"]
    return sorted(found, key=lambda e: (e.occurred_on, e.key), reverse=True)


def record_evidence(
    repository: MemberRepository,
    member_id: str,
    purpose: Purpose,
    reference_id: str,
    s3_key: str,
    *,
    today: date,
    version: str | None = None,
    size: int | None = None,
    content_type: str | None = None,
    credential: str | None = None,
    activity_id: str | None = None,
) -> WriteOutcome:
    """Record an uploaded document against an audit (``purpose="audit"``, ``reference_id`` = audit id)
    or a recertification application (``"recertification"``, application id) as an EventRecord of
    kind ``evidence`` in the member partition (one conditional put; the key derives from the S3 key
    and version, so a redelivered S3 event records nothing twice).

    ``data``: ``purpose``, ``audit_id`` or ``application_id``, ``s3_key``, ``version``, ``size``,
    ``content_type``, and ``activity_id`` when the document supports one self-reported activity."""
    digest = hashlib.sha256(f"{s3_key}\n{version or ''}".encode()).hexdigest()[:20]
    reference = {"audit_id": reference_id} if purpose == "audit" else {"application_id": reference_id}
    event = EventRecord(
        kind=EVIDENCE_KIND,
        key=f"{reference_id}#{digest}",
        occurred_on=today,
        recorded_on=today,
        credential=credential,
        summary=f"evidence received for {'audit' if purpose == 'audit' else 'recertification application'} "
        f"{reference_id}: {s3_key.rsplit('/', 1)[-1]}",
        data={
            "purpose": purpose,
            **reference,
            "s3_key": s3_key,
            "version": version,
            "size": size,
            "content_type": content_type,
            **({"activity_id": activity_id} if activity_id is not None else {}),
        },
    )
    return repository.record_event(member_id, event)


@dataclass(frozen=True)
class EvidenceOutcome:
    key: str
    recorded: bool
    reason: str | None = None
    reference_id: str | None = None
    quarantine_key: str | None = None


class EvidenceIntake:
    def __init__(self, members: MemberRepository, catalog: CatalogRepository, files: FilesBucket) -> None:
        self.members = members
        self.catalog = catalog
        self.files = files

    def process(self, raw_key: str, today: date, version: str | None = None) -> EvidenceOutcome:
        """``raw_key`` as S3 events carry it (URL-encoded, ``+`` for spaces)."""
        key = unquote_plus(raw_key)
        parsed = parse_evidence_key(key)
        if isinstance(parsed, str):
            if self.files.info(key) is None:  # redelivered after quarantine
                logger.info("evidence upload no longer exists: already handled", extra={"key": key})
                return EvidenceOutcome(key, False, reason="object no longer exists")
            return self._quarantine(key, parsed, today)
        info = self.files.info(key)
        if info is None:  # S3 redelivers: the object was already quarantined (or deleted)
            logger.info("evidence upload no longer exists: already handled", extra={"key": key})
            return EvidenceOutcome(key, False, reason="object no longer exists")
        content_type = info.content_type.split(";")[0].strip().lower()
        if info.size == 0:
            return self._quarantine(key, "empty", today, 0, content_type or None)
        if info.size > MAX_BYTES:
            return self._quarantine(
                key, f"too large: {info.size} bytes (limit {MAX_BYTES})", today, info.size
            )
        magic = CONTENT_TYPES.get(content_type)
        if magic is None:
            return self._quarantine(
                key,
                f"content type {content_type or 'missing'} not accepted (pdf, jpeg, png)",
                today,
                info.size,
            )
        if not info.head.startswith(magic):
            return self._quarantine(key, f"content is not {content_type}", today, info.size, content_type)
        member = self.members.load(parsed.member_id)
        if member is None:
            return self._quarantine(key, f"unknown member {parsed.member_id}", today, info.size, content_type)
        credential: str | None
        if parsed.purpose == "audit":
            audits = open_audits(member)
            if not audits:
                return self._quarantine(key, "no open audit for this member", today, info.size, content_type)
            reference, credential = audits[0].audit_id, audits[0].credential
        else:
            applications = open_applications(member)
            if not applications:
                return self._quarantine(
                    key, "no open recertification application for this member", today, info.size, content_type
                )
            reference, credential = applications[0].key, applications[0].credential
        record_evidence(
            self.members,
            parsed.member_id,
            parsed.purpose,
            reference,
            key,
            today=today,
            version=version,
            size=info.size,
            content_type=content_type,
            credential=credential,
            activity_id=parsed.activity_id,
        )
        logger.info("evidence recorded", extra={"key": key, "reference": reference})
        return EvidenceOutcome(key, True, reference_id=reference)

    def _quarantine(
        self, key: str, reason: str, today: date, size: int | None = None, content_type: str | None = None
    ) -> EvidenceOutcome:
        target = quarantine_upload(
            self.catalog, self.files, key, reason, today, size=size, content_type=content_type
        )
        record_metric(BusinessMetric.UPLOADS_QUARANTINED, dimension=("source", "evidence"))
        return EvidenceOutcome(key, False, reason=reason, quarantine_key=target)


def quarantine_upload(
    catalog: CatalogRepository,
    files: FilesBucket,
    key: str,
    reason: str,
    today: date,
    *,
    size: int | None = None,
    content_type: str | None = None,
) -> str:
    """Move an upload to ``quarantine/{key}`` with the reason (object metadata and the staff listing
    ``GET /admin/quarantined-uploads``); returns the quarantine key."""
    target = f"{QUARANTINE_PREFIX}{key}"
    if len(target.encode("utf-8")) > _MAX_S3_KEY_BYTES:  # S3 keys: at most 1024 bytes
        target = f"{QUARANTINE_PREFIX}sha256/{hashlib.sha256(key.encode('utf-8')).hexdigest()}"
    # The record first: a failed move is retried with the record in place; a failed record
    # write leaves the upload where it was, to be retried — never moved without a record.
    catalog.record_quarantine(
        QuarantineRecord(
            original_key=key,
            quarantine_key=target,
            reason=reason,
            recorded_on=today,
            size=size,
            content_type=content_type,
        )
    )
    files.move(key, target, {"quarantine-reason": reason[:1000].encode("ascii", "replace").decode()})
    logger.info("upload quarantined", extra={"key": key, "reason": reason})
    return target
