"""Self-reported CE: record, correct and withdraw a member's own activities; the CE record from every
source with what each entry counts for each certification. Rules: docs/rules.md "Self-reported CE".

Cost: recording or withdrawing is one Query of the member partition and one conditional PutItem of
the new version (the key ``{activity_id}#{version}`` is the dedup marker: a concurrent change of the
same activity fails its condition and answers 409). A repeated identical PUT is the Query alone. The
list is one Query, like a status read. LMS and provider-file credits carry their catalog title and
provider, so telling a duplicate needs no catalog read; one BatchGetItem of the catalog is added only
when the rules need entries the facts lack (unmapped completions, or a credit recorded before titles
were kept on the fact, dated on the day of a self-reported entry).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.errors import Conflict, DomainError, Unprocessable
from shared.rules.cycles import current_cycle, cycle_number
from shared.rules.dates import IsoDate
from shared.rules.models import (
    UNITS_BY_CATEGORY,
    ActivitySpec,
    CeCompletion,
    Certification,
    Criterion,
    EmploymentPeriod,
    Fact,
    Points,
    RoleTerm,
    SelfReported,
    SelfReportEntry,
    self_report_key,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.self_report import (
    ActivityCredit,
    Source,
    latest_versions,
    source_of,
    versions_of,
)
from shared.rules.status import (
    CE_RECORD,
    SELF_REPORT_RECORD,
    activity_credits,
    change_closed_since,
    decide_self_report,
    effective_certified_on,
    visible_facts,
)
from shared.services.members import CatalogLookup, MemberService
from shared.services.transcript import TranscriptCycle, TranscriptRow, render
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.records import MemberRecord

ACTOR_PATTERN = r"^(member|staff|system):[A-Za-z0-9._-]{1,64}$"
EARLIEST_ACTIVITY = date(1950, 1, 1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_but_newlines(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise ValueError("must not contain control characters (other than new lines and tabs)")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_control)
]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=700), AfterValidator(_no_control)]


class InvalidActivity(DomainError):
    code = "invalid_activity"


class NotCountable(Unprocessable):
    code = "not_countable"


class ActivityWithdrawn(Conflict):
    code = "activity_withdrawn"


class CycleClosed(Conflict):
    code = "cycle_closed"


class NotSelfReported(Conflict):
    code = "not_self_reported"


class ConcurrentChange(Conflict):
    code = "concurrent_change"


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Attestation(_Strict):
    criteria: list[Criterion] = Field(
        min_length=1, max_length=3, description="Which of the three qualifying questions the activity meets"
    )
    true_and_correct: Literal[True] = Field(description="The member attests the entry is true and correct")


class ActivityRequest(_Strict):
    """Body of ``PUT /members/{member_id}/activities/{activity_id}``."""

    category: Category
    title: Text
    provider: Text
    completed_on: IsoDate = Field(ge=EARLIEST_ACTIVITY, description="Last day of the activity (YYYY-MM-DD)")
    units: dict[str, Any] = Field(
        description=(
            "By category: professional_education {contact_hours}; formal_education {semester_hours} or "
            "{quarter_hours}; employment {started_on}; authorship {publication_type}; "
            "instructional_presentation {presentation_hours}; organizational_participation "
            "{role, term_started_on}"
        )
    )
    description: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_control_but_newlines)] | None
    ) = None
    attestation: Attestation
    credential: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = Field(
        default=None, description="Count only for this certification (default: every certification)"
    )
    catalog_activity_id: Reference | None = Field(default=None, description="The catalog activity, if any")
    certificate_id: Reference | None = Field(
        default=None, description="The provider's certificate id, if any"
    )


class CycleFilter(StrEnum):
    CURRENT = "current"
    PREVIOUS = "previous"
    ALL = "all"


class ActivityView(_Strict):
    """One CE record, from any source, with what it counts for each certification."""

    activity_id: str = Field(description="Self-reported: the member's id; else derived from the record")
    source: Source
    record: str = Field(description="ce:{fact key} or self_report:{activity_id}")
    completed_on: date
    recorded_on: date
    category: Category | None
    title: str | None = None
    provider: str | None = None
    units: dict[str, Any] | None = None
    version: int | None = None
    points: dict[str, Points] = Field(description="Points per certification (before category caps)")
    credits: list[ActivityCredit]


class ActivityAnswer(_Strict):
    member_id: str
    activity_id: str
    version: int
    changed: bool
    activity: ActivityView | None = Field(description="None once withdrawn")


class ActivityList(_Strict):
    member_id: str
    as_of: date
    items: list[ActivityView]
    next_token: str | None = None


@dataclass(frozen=True)
class Recorded:
    created: bool
    answer: ActivityAnswer


def derived_activity_id(completion: CeCompletion) -> str:
    """A path-safe id for an LMS or provider-file record (its key may hold '/', ':' ...)."""
    digest = hashlib.sha256(completion.key.encode("utf-8")).hexdigest()[:16]
    return f"{source_of(completion).value}-{digest}"


class ActivityService:
    def __init__(
        self, repository: MemberRepository, policy: RulesPolicy, catalog: CatalogLookup | None = None
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.members = MemberService(repository, policy, catalog)

    # ------------------------------------------------------------------ record / correct

    def record(
        self, member_id: str, activity_id: str, request: ActivityRequest, actor: str | None, today: date
    ) -> Recorded:
        """Record or correct one activity: 201 new, 200 changed or unchanged (no write)."""
        entry = self._entry(request, today)
        member = self._load(member_id)
        entry = self._check_credential(entry, member)
        versions = versions_of(member.facts, activity_id)
        latest = versions[-1] if versions else None
        if latest is not None and latest.entry is None:
            raise ActivityWithdrawn(f"activity {activity_id} was withdrawn; record it under a new id")
        if latest is not None and latest.entry == entry:
            answer = self._answer(member, member.facts, activity_id, latest, today, changed=False)
            return Recorded(created=False, answer=answer)
        certs = _certifications(member)
        decisions = {
            c.credential: decide_self_report(c, member.facts, entry, today, self.policy) for c in certs
        }
        if not any(d.accepted for d in decisions.values()):
            raise NotCountable(
                "the activity counts for no certification",
                field="completed_on",
                reasons={code: d.reason for code, d in decisions.items()},
            )
        if latest is not None:
            self._check_open(member, latest, today)
        fact = SelfReported(
            key=self_report_key(activity_id, (latest.version if latest else 0) + 1),
            recorded_on=today,
            activity_id=activity_id,
            version=(latest.version if latest else 0) + 1,
            entry=entry,
            actor=actor,
            changed=_changed(latest.entry if latest else None, entry),
        )
        self._write(member_id, fact)
        facts = (*member.facts, fact)
        answer = self._answer(member, facts, activity_id, fact, today, changed=True)
        return Recorded(created=latest is None, answer=answer)

    def _entry(self, request: ActivityRequest, today: date) -> SelfReportEntry:
        """The entry to store; bad units, dates and periods are 400 with their field."""
        if request.completed_on > today:
            raise InvalidActivity(
                f"completed_on {request.completed_on} is in the future (today is {today})",
                field="completed_on",
            )
        other = _category_of_units(request.units)
        if other is not None and other is not request.category:
            raise InvalidActivity(
                f"units of {other.value} given for {request.category.value}",
                field=f"units.{sorted(request.units)[0]}",
            )
        try:
            units = UNITS_BY_CATEGORY[request.category].model_validate(request.units)
        except ValidationError as error:
            problems = [
                {"field": ".".join(["units", *(str(p) for p in item["loc"])]), "reason": item["msg"]}
                for item in error.errors()
            ]
            raise InvalidActivity(
                f"units of {request.category.value}: {problems[0]['reason']}",
                field=problems[0]["field"],
                problems=problems,
            ) from None
        self._check_period(units, request.completed_on)
        return SelfReportEntry(
            category=request.category,
            title=request.title,
            provider=request.provider,
            completed_on=request.completed_on,
            units=units,
            description=request.description,
            criteria=tuple(sorted(set(request.attestation.criteria))),
            credential=request.credential,
            catalog_activity_id=request.catalog_activity_id,
            certificate_id=request.certificate_id,
        )

    def _check_period(self, units: object, completed_on: date) -> None:
        if isinstance(units, EmploymentPeriod):
            field, started = "units.started_on", units.started_on
        elif isinstance(units, RoleTerm):
            field, started = "units.term_started_on", units.term_started_on
        else:
            return
        if started < EARLIEST_ACTIVITY:
            raise InvalidActivity(f"{started} is before {EARLIEST_ACTIVITY}", field=field)
        if started > completed_on:
            raise InvalidActivity(f"{started} is after completed_on {completed_on}", field=field)
        cut_off = self.policy.employment_points_until
        if isinstance(units, EmploymentPeriod) and started > cut_off:
            raise InvalidActivity(
                f"employment points only claimable through {cut_off.isoformat()}: this period starts after it",
                field=field,
            )

    def _check_credential(self, entry: SelfReportEntry, member: MemberRecord) -> SelfReportEntry:
        """A named credential must be one the member holds (stored canonical); with
        ``CE_COUNT_FOR_EVERY_CERTIFICATION`` off, a member with several must name one."""
        held = sorted(member.certifications)
        if entry.credential is not None:
            code = self.policy.canonical_code(entry.credential)
            if code not in held:
                raise InvalidActivity(
                    f"credential {entry.credential!r} is not one the member holds",
                    field="credential",
                    held=held,
                )
            return entry.model_copy(update={"credential": code})
        if not self.policy.ce_count_for_every_certification and len(held) > 1:
            raise InvalidActivity(
                "name the certification this activity counts for (one activity counts for one "
                "certification here)",
                field="credential",
                held=held,
            )
        if not self.policy.ce_count_for_every_certification and held:
            return entry.model_copy(update={"credential": held[0]})
        return entry

    def _check_open(self, member: MemberRecord, latest: SelfReported, today: date) -> None:
        """Changing or withdrawing is refused once a cycle the activity counts in is closed (R5)."""
        if latest.entry is None:
            return
        for cert in _certifications(member):
            closed = change_closed_since(cert, member.facts, latest.entry, today, self.policy)
            if closed is not None:
                raise CycleClosed(
                    f"the {cert.credential} cycle this activity counts in closed on {closed} "
                    "(end of its late-documentation window)",
                    credential=cert.credential,
                    closed_on=closed.isoformat(),
                )

    def _write(self, member_id: str, fact: SelfReported) -> None:
        if self.repository.record_fact(member_id, fact) is not WriteOutcome.CREATED:
            raise ConcurrentChange(f"activity {fact.activity_id} changed meanwhile; read it and retry")

    # ------------------------------------------------------------------ withdraw

    def withdraw(self, member_id: str, activity_id: str, actor: str | None, today: date) -> ActivityAnswer:
        member = self._load(member_id)
        versions = versions_of(member.facts, activity_id)
        latest = versions[-1] if versions else None
        if latest is None:
            for fact in member.facts:
                if isinstance(fact, CeCompletion) and activity_id in (fact.key, derived_activity_id(fact)):
                    source = source_of(fact)
                    raise NotSelfReported(
                        f"activity {activity_id} comes from the {source.value} source and cannot be withdrawn here",
                        source=source.value,
                    )
        elif latest.entry is None:
            return ActivityAnswer(
                member_id=member_id,
                activity_id=activity_id,
                version=latest.version,
                changed=False,
                activity=None,
            )
        else:
            self._check_open(member, latest, today)
        version = (latest.version if latest else 0) + 1
        fact = SelfReported(
            key=self_report_key(activity_id, version),
            recorded_on=today,
            activity_id=activity_id,
            version=version,
            entry=None,
            actor=actor,
            changed=("withdrawn",),
        )
        self._write(member_id, fact)
        return ActivityAnswer(
            member_id=member_id, activity_id=activity_id, version=version, changed=True, activity=None
        )

    # ------------------------------------------------------------------ list

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
        certs = _certifications(member)
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
        certs = _certifications(member) if certs is None else certs
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
            for c in _certifications(member)
        }
        return ActivityAnswer(
            member_id=member.profile.member_id,
            activity_id=activity_id,
            version=fact.version,
            changed=changed,
            activity=self._self_view(fact, credits),
        )

    # ------------------------------------------------------------------ plumbing

    def _load(self, member_id: str) -> MemberRecord:
        return self.members.load(member_id)

    def _catalog_for(self, facts: tuple[Fact, ...]) -> Mapping[str, ActivitySpec]:
        return self.members.catalog_for(facts)


def _category_of_units(units: Mapping[str, Any]) -> Category | None:
    """The category whose units these are, by their names (None when they fit none or are empty)."""
    for category, model in UNITS_BY_CATEGORY.items():
        if units and set(units) <= set(model.model_fields):
            return category
    return None


def _certifications(member: MemberRecord) -> list[Certification]:
    return [c.as_certification() for c in sorted(member.certifications.values(), key=lambda c: c.credential)]


def _changed(before: SelfReportEntry | None, after: SelfReportEntry) -> tuple[str, ...]:
    if before is None:
        return ("recorded",)
    old, new = before.model_dump(), after.model_dump()
    return tuple(name for name in new if old.get(name) != new[name])


def _view(record: str, credits: Mapping[str, Mapping[str, ActivityCredit]], **fields: Any) -> ActivityView:
    mine = [per_record[record] for per_record in credits.values() if record in per_record]
    return ActivityView(record=record, points={c.credential: c.points for c in mine}, credits=mine, **fields)
