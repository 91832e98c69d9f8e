"""Reads of recertification state from a loaded member record (no request: ``MemberRepository.load``
returns applications, exam results, evidence and ``Recertified`` facts with the rest of the aggregate).

Application ids are ``{member_id}.{CREDENTIAL}.{n}`` (member ids contain no dots), so a route that
only has the application id finds the member partition without an index read (:func:`member_of`).
"""

from __future__ import annotations

from shared.errors import NotFound
from shared.rules.models import Recertified
from shared.rules.recert import ExamResult, RecertApplication
from shared.store.recert import APPLICATION_KIND, EVIDENCE_KIND, EXAM_RESULT_KIND
from shared.store.records import EventRecord, MemberRecord


def applications_of(record: MemberRecord) -> list[RecertApplication]:
    return sorted(
        (RecertApplication.model_validate(e.data) for e in record.events if e.kind == APPLICATION_KIND),
        key=lambda a: (a.opened_on, a.application_id),
    )


def open_application(record: MemberRecord, credential: str | None = None) -> RecertApplication | None:
    """The member's open recertification application (for ``credential`` if given), or None.

    Public helper for other modules (e.g. CE ingest deciding where an evidence upload belongs)."""
    wanted = credential.strip().upper() if credential else None
    for app in applications_of(record):
        if app.status == "open" and (wanted is None or app.credential == wanted):
            return app
    return None


def completion_of(record: MemberRecord, application_id: str) -> Recertified | None:
    """The ``Recertified`` fact that completed the application (keyed by its id), if any."""
    return next((f for f in record.facts if isinstance(f, Recertified) and f.key == application_id), None)


def exam_results_of(record: MemberRecord) -> list[ExamResult]:
    return [ExamResult.model_validate(e.data) for e in record.events if e.kind == EXAM_RESULT_KIND]


def evidence_count(
    record: MemberRecord, *, application_id: str | None = None, audit_id: str | None = None
) -> int:
    return len(evidence_of(record, application_id=application_id, audit_id=audit_id))


def evidence_of(
    record: MemberRecord, *, application_id: str | None = None, audit_id: str | None = None
) -> list[EventRecord]:
    return [
        e
        for e in record.events
        if e.kind == EVIDENCE_KIND
        and (
            (application_id is not None and e.data.get("application_id") == application_id)
            or (audit_id is not None and e.data.get("audit_id") == audit_id)
        )
    ]


def member_of(application_id: str) -> str:
    member_id, _, rest = application_id.partition(".")
    if not member_id or not rest:
        raise NotFound(f"application {application_id!r} not found")
    return member_id
