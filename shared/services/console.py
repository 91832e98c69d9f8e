"""The staff console's reads: a member's page in one partition read, and the work queues.

Every action the console offers is an existing use case (audit decision, recertification decision,
payment exception resolution, catalog mapping): the console function calls those services directly,
with the same request models as the API routes. What lives here is only what no route had yet: the
member page assembled from ONE Query of the partition, search by e-mail, and the two queues that are
ListIndex listings filtered to what awaits a decision.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from shared.errors import NotFound
from shared.rules.ids import MEMBER_ID
from shared.rules.models import Reason
from shared.services.audits import AuditService
from shared.services.console_queues import QueuePage
from shared.services.member_schemas import Invoices, MemberStatus
from shared.services.members import MemberService
from shared.services.recert_schemas import AuditRecord
from shared.services.timeline import timeline_of
from shared.store import keys
from shared.store.catalog import CatalogRepository
from shared.store.recert import APPLICATION_LIST, AUDIT_LIST
from shared.store.records import MemberProfile, TimelineEntry

TIMELINE_PAGE = 25
QUEUE_PAGE = 20

# A certification's reasons in plain words, for staff answering "why am I lapsed?".
REASON_WORDS: dict[Reason, str] = {
    Reason.FEE_OVERDUE: "An annual fee is overdue: the certification is delinquent until it is paid.",
    Reason.CCP_INCOMPLETE: "The CCP points of the current cycle are not complete yet.",
    Reason.FEE_UNPAID_3_YEARS: "Lapsed: annual fees went unpaid for 3 years or more.",
    Reason.CCP_NOT_DOCUMENTED: (
        "Lapsed: the CCP points of a cycle were not documented by the end of its late-reporting window."
    ),
    Reason.AUDIT_FAILED: "Lapsed: a CCP audit of this certification failed.",
    Reason.AUDIT_DEADLINE_MISSED: (
        "Lapsed: the documentation for a CCP audit did not arrive by the audit's deadline."
    ),
}


class TimelinePage(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    entries: list[TimelineEntry]
    kinds: list[str]  # every kind the member's timeline has, for the filter
    kind: str | None
    page: int
    pages: int


class MemberPage(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    profile: MemberProfile
    status: MemberStatus
    invoices: Invoices
    timeline: TimelinePage


class PendingAudit(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    audit: AuditRecord


class PendingApplication(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    application_id: str
    member_id: str
    credential: str
    method: str
    opened_on: str
    summary: str


class ConsoleService:
    def __init__(self, members: MemberService, audits: AuditService, listings: CatalogRepository) -> None:
        self.members = members
        self.audits = audits
        self.listings = listings

    def find_member(self, query: str) -> str:
        """A member id from what staff typed: an e-mail (EmailIndex, one Query) or a member id."""
        query = query.strip()
        if "@" in query:
            found = self.members.repository.member_id_by_email(query.lower())
            if found is None:
                raise NotFound(f"no member has the e-mail {query!r}")
            return found
        if not MEMBER_ID.fullmatch(query):
            raise NotFound(f"{query!r} is neither an e-mail address nor a member id")
        return query

    def member_page(self, member_id: str, today: date, kind: str | None = None, page: int = 1) -> MemberPage:
        """Status, invoices and one page of the timeline from one Query of the member partition."""
        record = self.members.load(member_id)
        entries = timeline_of(record)
        kinds = sorted({entry.kind for entry in entries})
        chosen = [e for e in entries if kind is None or e.kind == kind]
        pages = max(1, -(-len(chosen) // TIMELINE_PAGE))
        page = min(max(page, 1), pages)
        newest_first = chosen[::-1]
        return MemberPage(
            profile=record.profile,
            status=self.members.status_of(member_id, record, today),
            invoices=self.members.invoices_of(member_id, record, today),
            timeline=TimelinePage(
                entries=newest_first[(page - 1) * TIMELINE_PAGE : page * TIMELINE_PAGE],
                kinds=kinds,
                kind=kind,
                page=page,
                pages=pages,
            ),
        )

    def pending_audits(self, today: date, token: str | None = None) -> QueuePage:
        """Audits without a decision, with their evidence per activity: one ListIndex page, then one
        audit record (the member's partition) per listed audit."""
        listed = self.listings.listing(AUDIT_LIST, QUEUE_PAGE, token)
        records = [self.audits.record(str(item[keys.LIST_SK]), today) for item in listed.items]
        pending = [PendingAudit(audit=r) for r in records if r.decision is None]
        return QueuePage(pending, listed.next_token, len(listed.items))

    def pending_applications(self, token: str | None = None) -> QueuePage:
        """Open CCP applications without a staff decision (the listed item carries the application)."""
        listed = self.listings.listing(APPLICATION_LIST, QUEUE_PAGE, token)
        pending = []
        for item in listed.items:
            data = (item.get("body") or {}).get("data") or {}
            if data.get("status") == "open" and data.get("method") == "ccp" and data.get("decision") is None:
                pending.append(
                    PendingApplication(
                        application_id=str(data["application_id"]),
                        member_id=str(data["member_id"]),
                        credential=str(data["credential"]),
                        method=str(data["method"]),
                        opened_on=str(data.get("opened_on", "")),
                        summary=str((item.get("body") or {}).get("summary", "")),
                    )
                )
        return QueuePage(pending, listed.next_token, len(listed.items))
