"""Self-reported CE: record, correct and withdraw a member's own activities. Rules: docs/rules.md
"Self-reported CE". Reading the CE record (list, transcript) is ``ce_record``; the wire shapes are
``activity_schemas``.

Cost: recording or withdrawing is one Query of the member partition and one conditional PutItem of
the new version (the key ``{activity_id}#{version}`` is the dedup marker: a concurrent change of the
same activity fails its condition and answers 409). A repeated identical PUT is the Query alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from shared.rules.models import (
    UNITS_BY_CATEGORY,
    CeCompletion,
    EmploymentPeriod,
    RoleTerm,
    SelfReported,
    SelfReportEntry,
    self_report_key,
)
from shared.rules.policy import Category
from shared.rules.self_report import source_of, versions_of
from shared.rules.status import change_closed_since, decide_self_report
from shared.services.activity_schemas import (
    EARLIEST_ACTIVITY,
    ActivityAnswer,
    ActivityRequest,
    ActivityWithdrawn,
    ConcurrentChange,
    CycleClosed,
    InvalidActivity,
    NotCountable,
    NotSelfReported,
    Recorded,
)
from shared.services.ce_record import CeRecordService, certifications_of, derived_activity_id
from shared.store.members import WriteOutcome
from shared.store.records import MemberRecord


class ActivityService(CeRecordService):
    """The member's CE record (read side, inherited) and the writes of their self-reported entries."""

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
        certs = certifications_of(member)
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
        for cert in certifications_of(member):
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


def _category_of_units(units: Mapping[str, Any]) -> Category | None:
    """The category whose units these are, by their names (None when they fit none or are empty)."""
    for category, model in UNITS_BY_CATEGORY.items():
        if units and set(units) <= set(model.model_fields):
            return category
    return None


def _changed(before: SelfReportEntry | None, after: SelfReportEntry) -> tuple[str, ...]:
    if before is None:
        return ("recorded",)
    old, new = before.model_dump(), after.model_dump()
    return tuple(name for name in new if old.get(name) != new[name])
