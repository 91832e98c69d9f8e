"""The CE record: every CE entry a member has, from every source (LMS, provider file, self-reported),
with what each counts for each certification; the paged list and the transcript PDF read it.

Cost: the list is one Query of the member partition, like a status read. LMS and provider-file credits
carry their catalog title and provider, so telling a duplicate needs no catalog read; one BatchGetItem
of the catalog is added only when the rules need entries the facts lack (unmapped completions, or a
credit recorded before titles were kept on the fact, dated on the day of a self-reported entry).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

from shared.rules.cycles import current_cycle, cycle_number
from shared.rules.models import ActivitySpec, CeCompletion, Certification, Fact, SelfReported
from shared.rules.policy import RulesPolicy
from shared.rules.self_report import ActivityCredit, Source, latest_versions, source_of
from shared.rules.status import (
    CE_RECORD,
    SELF_REPORT_RECORD,
    activity_credits,
    effective_certified_on,
    visible_facts,
)
from shared.services.activity_schemas import (
    ActivityAnswer,
    ActivityList,
    ActivityView,
    CycleFilter,
    InvalidActivity,
)
from shared.services.members import CatalogLookup, MemberService
from shared.services.transcript import TranscriptCycle, TranscriptRow, render
from shared.store.members import MemberRepository
from shared.store.records import MemberRecord


def derived_activity_id(completion: CeCompletion) -> str:
    """A path-safe id for an LMS or provider-file record (its key may hold '/', ':' ...)."""
    digest = hashlib.sha256(completion.key.encode("utf-8")).hexdigest()[:16]
    return f"{source_of(completion).value}-{digest}"


class CeRecordService:
    def __init__(
        self, repository: MemberRepository, policy: RulesPolicy, catalog: CatalogLookup | None = None
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.members = MemberService(repository, policy, catalog)

    def listing(  # noqa: PLR0917 - the query parameters of the route
        self,
        member_id: str,
        credential: str | None,
        cycle: CycleFilter,
        limit: int,
        next_token: str | None,
        today: date,
    ) -> ActivityList:
        member = self._load(member_id)
        certs = self._held(member, credential)
        views = self.views(member, member.facts, today, certs)
        if cycle is not CycleFilter.ALL:
            wanted = {c.credential: self._cycle_number(c, member.facts, today, cycle) for c in certs}
            views = [v for v in views if any(cr.cycle_number == wanted[cr.credential] for cr in v.credits)]
        start = int(next_token or 0)
        page = views[start : start + limit]
        more = start + limit < len(views)
        return ActivityList(
            member_id=member_id, as_of=today, items=page, next_token=str(start + limit) if more else None
        )

    def _held(self, member: MemberRecord, credential: str | None) -> list[Certification]:
        """The member's certifications, or the one named (400 when the member does not hold it)."""
        certs = certifications_of(member)
        if credential is None:
            return certs
        code = self.policy.canonical_code(credential)
        certs = [c for c in certs if c.credential == code]
        if not certs:
            raise InvalidActivity(
                f"credential {credential!r} is not one the member holds", field="credential"
            )
        return certs

    def _epoch_start(self, cert: Certification, facts: tuple[Fact, ...], today: date) -> date:
        return effective_certified_on(cert, visible_facts(facts, today), today, self.policy)

    def _cycle_number(
        self, cert: Certification, facts: tuple[Fact, ...], today: date, cycle: CycleFilter
    ) -> int:
        number = current_cycle(self._epoch_start(cert, facts, today), today, self.policy).number
        return number if cycle is CycleFilter.CURRENT else number - 1

    # ------------------------------------------------------------------ transcript

    def transcript(self, member_id: str, credential: str | None, cycle: CycleFilter, today: date) -> bytes:
        """The CE transcript PDF: per certification and cycle asked for, every record with its points
        (or why 0) and the totals per category and certification."""
        member = self._load(member_id)
        certs = self._held(member, credential)
        views = self.views(member, member.facts, today, certs)
        sections: list[TranscriptCycle] = []
        for cert in certs:
            start = self._epoch_start(cert, member.facts, today)
            current = current_cycle(start, today, self.policy).number
            mine = [(v, cr) for v in views for cr in v.credits if cr.credential == cert.credential]
            if cycle is CycleFilter.ALL:
                numbers = {current} | {cr.cycle_number for _, cr in mine if cr.cycle_number is not None}
            else:
                numbers = {current if cycle is CycleFilter.CURRENT else current - 1} - {0}
            for number in sorted(numbers):
                bounds = cycle_number(start, number, self.policy)
                rows = [
                    TranscriptRow(
                        completed_on=v.completed_on,
                        source=v.source.value,
                        category=v.category.value if v.category else "unmapped",
                        title=v.title or v.activity_id,
                        points=cr.points,
                        note="counted" if cr.counted else (cr.reason.value if cr.reason else "not counted"),
                    )
                    for v, cr in sorted(mine, key=lambda pair: (pair[0].completed_on, pair[0].record))
                    if cr.cycle_number == number
                ]
                sections.append(
                    TranscriptCycle(
                        credential=cert.credential,
                        number=number,
                        start=bounds.start,
                        end=bounds.end,
                        required=self.policy.credential(cert.credential).ccp_points,
                        rows=rows,
                    )
                )
        name = f"{member.profile.first_name} {member.profile.last_name}"
        return render(name, member_id, today, sections, self.policy.category_caps)

    def views(
        self,
        member: MemberRecord,
        facts: tuple[Fact, ...],
        today: date,
        certs: list[Certification] | None = None,
    ) -> list[ActivityView]:
        """Every CE record (newest first) with its credits for each of ``certs`` (default: all)."""
        certs = certifications_of(member) if certs is None else certs
        catalog = self._catalog_for(facts)
        credits = {c.credential: activity_credits(c, facts, today, self.policy, catalog) for c in certs}
        views: list[ActivityView] = []
        for fact in visible_facts(facts, today):
            if isinstance(fact, CeCompletion):
                spec = catalog.get(fact.activity_id)
                views.append(
                    _view(
                        f"{CE_RECORD}{fact.key}",
                        credits,
                        activity_id=derived_activity_id(fact),
                        source=source_of(fact),
                        completed_on=fact.completed_on,
                        recorded_on=fact.recorded_on,
                        category=fact.category or (spec.category if spec else None),
                        title=fact.title or (spec.title if spec else None),
                        provider=fact.provider or (spec.provider_id if spec else None),
                    )
                )
        for report in latest_versions(facts, today).values():
            if report.entry is not None:
                views.append(self._self_view(report, credits))
        return sorted(views, key=lambda v: (v.completed_on, v.record), reverse=True)

    @staticmethod
    def _self_view(report: SelfReported, credits: Mapping[str, Mapping[str, ActivityCredit]]) -> ActivityView:
        assert report.entry is not None
        entry = report.entry
        return _view(
            f"{SELF_REPORT_RECORD}{report.activity_id}",
            credits,
            activity_id=report.activity_id,
            source=Source.SELF_REPORTED,
            completed_on=entry.completed_on,
            recorded_on=report.recorded_on,
            category=entry.category,
            title=entry.title,
            provider=entry.provider,
            units=entry.units.model_dump(mode="json", exclude_none=True),
            version=report.version,
        )

    def _answer(
        self,
        member: MemberRecord,
        facts: tuple[Fact, ...],
        activity_id: str,
        fact: SelfReported,
        today: date,
        *,
        changed: bool,
    ) -> ActivityAnswer:
        catalog = self._catalog_for(facts)
        credits = {
            c.credential: activity_credits(c, facts, today, self.policy, catalog)
            for c in certifications_of(member)
        }
        return ActivityAnswer(
            member_id=member.profile.member_id,
            activity_id=activity_id,
            version=fact.version,
            changed=changed,
            activity=self._self_view(fact, credits),
        )

    def _load(self, member_id: str) -> MemberRecord:
        return self.members.load(member_id)

    def _catalog_for(self, facts: tuple[Fact, ...]) -> Mapping[str, ActivitySpec]:
        return self.members.catalog_for(facts)


def certifications_of(member: MemberRecord) -> list[Certification]:
    return [c.as_certification() for c in sorted(member.certifications.values(), key=lambda c: c.credential)]


def _view(record: str, credits: Mapping[str, Mapping[str, ActivityCredit]], **fields: Any) -> ActivityView:
    mine = [per_record[record] for per_record in credits.values() if record in per_record]
    return ActivityView(record=record, points={c.credential: c.points for c in mine}, credits=mine, **fields)
