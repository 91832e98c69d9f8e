"""Credly badges: issue one per recertification, revoke on lapse, follow the earner's acceptance.

Called by the table-stream consumer (``functions/badge_issue``), never by the writer of the fact
(docs/architecture.md, principle 5). Exactly one badge per completion:

1. the badge is recorded as an event keyed on the completion (``badge`` / ``{credential}#{application}``);
   a redelivered ``Recertified`` record finds it and calls nobody;
2. a crash between Credly's 201 and our write is repaired on the retry: Credly answers 422 (duplicate)
   and the badge is looked up (template + ``issuer_earner_id``) and recorded - never issued twice;
3. 429/5xx/timeouts are retried inside the client; after that the error fails the stream record
   (retried by Lambda, then parked on the on-failure queue).

Revocation: a lapse transition (daily run, failed audit) revokes the badges of the credential when the
certification is lapsed as of today, so badge and certificate never disagree.

Recertification fee reversals: :meth:`BadgeService.reconcile` makes Credly agree with the completion
whenever its fee changes (payment, refund, dispute, dispute won): one live badge while the
recertification is in force and the certification is not lapsed, none otherwise. A badge revoked by
a refund and restored by a dispute won is a new Credly badge (Credly cannot un-revoke), recorded as the
completion's next ``issue``.

One concept at about 300 lines: the life of a Credly badge (issue, repair, revoke, reconcile, follow
the earner) against Credly and our record of it. What we keep is ``badge_records``; the fee-reversal
sweep is ``badge_reconciliation``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from shared.adapters.credly import Badge, BadgeRequest, CredlyClient, CredlyError, DuplicateBadge
from shared.observability import BusinessMetric, logger
from shared.observability import record as record_metric
from shared.rules.models import (
    FeePayment,
    PaymentReversal,
    Recertified,
    ReversalWithdrawn,
    Standing,
)
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate, recertified_from
from shared.services.badge_records import FEE_REVERSED, LAPSED, BadgeRecord, badge_key, badges_of, expires_at
from shared.store.members import MemberRepository
from shared.store.recert import BADGE_KIND, BADGE_LIST, RecertStore, StaleWrite
from shared.store.recert_queries import completion_of
from shared.store.records import EventRecord, MemberRecord


class BadgeService:
    def __init__(  # noqa: PLR0917
        self,
        repository: MemberRepository,
        policy: RulesPolicy,
        credly: Callable[[], CredlyClient],
        zone: ZoneInfo,
        expiry: str = "never",
        organization_id: str = "",
    ) -> None:
        self.repository = repository
        self.store = RecertStore(repository)
        self.policy = policy
        self._credly_factory = credly
        self._credly: CredlyClient | None = None
        self.zone = zone
        self.expiry = expiry
        self.organization_id = organization_id

    @property
    def credly(self) -> CredlyClient:
        if self._credly is None:
            self._credly = self._credly_factory()
        return self._credly

    # ------------------------------------------------------------------ issue

    def issue_for(self, member_id: str, fact: Recertified, today: date) -> BadgeRecord | None:
        """The ``Recertified`` record reached the stream: the completion's badge (see ``reconcile``)."""
        return self.reconcile(member_id, fact.application_id, today)

    def on_fee_reversal(
        self, member_id: str, change: PaymentReversal | ReversalWithdrawn, today: date
    ) -> BadgeRecord | None:
        """A refund, dispute or dispute won reached the stream: when it concerns a recertification
        fee, reconcile that completion's badge (annual-fee reversals change no badge)."""
        record = self.repository.load(member_id)
        if record is None:
            return None
        payment_key = change.payment_key if isinstance(change, PaymentReversal) else None
        if isinstance(change, ReversalWithdrawn):
            payment_key = next(
                (
                    f.payment_key
                    for f in record.facts
                    if isinstance(f, PaymentReversal) and f.key == change.reversal_key
                ),
                None,
            )
        application_id = next(
            (
                f.application_id
                for f in record.facts
                if isinstance(f, FeePayment) and f.key == payment_key and f.purpose == "recertification"
            ),
            None,
        )
        if application_id is None:
            return None
        return self.reconcile(member_id, application_id, today, loaded=record)

    def reconcile(
        self, member_id: str, application_id: str, today: date, loaded: MemberRecord | None = None
    ) -> BadgeRecord | None:
        """Make Credly agree with the completion of ``application_id`` as it stands today: one live badge
        while the recertification is in force and the certification it started is not lapsed; its
        live badges revoked otherwise. Idempotent (a redelivery finds the badge recorded); returns the
        live badge, if any."""
        record = loaded or self.repository.load(member_id)
        if record is None:
            logger.warning("recertified member not found", extra={"member_id": member_id})
            return None
        fact = completion_of(record, application_id)
        cert = record.certifications.get(fact.credential) if fact else None
        if fact is None or cert is None:
            return None
        recorded = [b for b in badges_of(record) if b.application_id == application_id]
        live = [b for b in recorded if b.state != "revoked"]
        in_force_from = recertified_from(fact, record.facts, today)
        status = evaluate(cert.as_certification(), record.facts, today, self.policy)
        if (
            in_force_from is not None
            and status.status is not Standing.LAPSED
            and status.certified_on == in_force_from
        ):
            return (
                live[0]
                if live
                else self.issue(record, fact.credential, application_id, in_force_from, len(recorded) + 1)
            )
        reason = LAPSED if in_force_from else FEE_REVERSED
        for badge in live:
            self.revoke(member_id, badge, reason, today)
        return None

    def issue(
        self, record: MemberRecord, credential: str, application_id: str, completed_on: date, issue: int
    ) -> BadgeRecord:
        """Issue badge number ``issue`` of ``application_id`` (a completion, or the imported badge),
        in force from ``completed_on``."""
        member_id = record.profile.member_id
        spec = self.policy.credential(credential)
        base = {
            "credential": spec.code,
            "application_id": application_id,
            "completed_on": completed_on,
            "issue": issue,
        }
        if not spec.badge_template_id:
            badge = BadgeRecord(**base, state="not_configured")
            self._record(member_id, badge, completed_on, create=True)
            logger.warning("no Credly badge template for credential", extra={"credential": spec.code})
            return badge
        issued_at = datetime.combine(completed_on, time(0), self.zone).strftime("%Y-%m-%d %H:%M:%S %z")
        request = BadgeRequest(
            recipient_email=str(record.profile.email),
            first_name=record.profile.first_name,
            last_name=record.profile.last_name,
            badge_template_id=spec.badge_template_id,
            issued_at=issued_at,
            issuer_earner_id=member_id,
            expires_at=expires_at(self.expiry, completed_on),
        )
        resolved = False
        try:
            found = self.credly.issue(request)
        except DuplicateBadge:
            found = self._existing_badge(spec.badge_template_id, member_id)
            resolved = True
        badge = BadgeRecord(
            **base,
            badge_id=found.id,
            state=found.state,
            badge_template_id=spec.badge_template_id,
            issued_at=issued_at,
            resolved_duplicate=resolved,
        )
        self._record(member_id, badge, completed_on, create=True)
        record_metric(BusinessMetric.BADGES_ISSUED)
        logger.info(
            "badge recorded", extra={"badge_id": found.id, "duplicate_resolved": resolved, "issue": issue}
        )
        return badge

    def _existing_badge(self, template_id: str, member_id: str) -> Badge:
        candidates = [b for b in self.credly.find_badges(template_id, member_id) if b.state != "revoked"]
        if not candidates:
            raise CredlyError(
                f"Credly reports a duplicate but no live badge of {template_id} for {member_id}"
            )
        return candidates[0]

    # ------------------------------------------------------------------ revoke

    def revoke_on_lapse(self, member_id: str, credential: str, reason: str, today: date) -> list[BadgeRecord]:
        """Revoke the credential's live badges if the certification is lapsed today."""
        record = self.repository.load(member_id)
        cert = record.certifications.get(credential) if record else None
        if record is None or cert is None:
            return []
        status = evaluate(cert.as_certification(), record.facts, today, self.policy)
        if status.status is not Standing.LAPSED:
            return []  # a stale lapse record (the member has recertified since): keep the badge
        return [
            self.revoke(member_id, badge, reason, today)
            for badge in badges_of(record)
            if badge.credential == credential and badge.badge_id is not None and badge.state != "revoked"
        ]

    def revoke(self, member_id: str, badge: BadgeRecord, reason: str, today: date) -> BadgeRecord:
        """Revoke at Credly (a badge that never reached Credly, ``not_configured``, only on our side)."""
        if badge.badge_id is not None:
            self.credly.revoke(badge.badge_id, reason)
        done = badge.model_copy(update={"state": "revoked", "revoked_on": today, "revoke_reason": reason})
        self._record(member_id, done, today, expect_state=badge.state)
        record_metric(BusinessMetric.BADGES_REVOKED)
        logger.info("badge revoked", extra={"badge_id": badge.badge_id, "reason": reason})
        return done

    # ------------------------------------------------------------------ webhook

    def apply_webhook(self, envelope: dict[str, Any], today: date) -> str:
        """``badge.state.changed``: confirm the event with Credly, then store the badge's new state.
        Returns what happened (logged; the HTTP answer is 200 either way)."""
        event_id = envelope.get("id")
        if not isinstance(event_id, str) or not event_id:
            return "ignored: no event id"
        if not self.organization_id:  # settings require one; never confirm against "no organization"
            return "ignored: no organization configured"
        if envelope.get("organization_id") != self.organization_id:
            return "ignored: another organization"
        try:
            event = self.credly.get_event(event_id)
        except CredlyError as error:
            logger.warning("credly event not confirmable", extra={"event_id": event_id, "error": str(error)})
            return "ignored: not confirmable"
        if event is None:
            return "ignored: unknown to Credly"
        if event.get("organization_id") != self.organization_id:
            return "ignored: another organization"
        if event.get("event_type") != "badge.state.changed":
            return f"ignored: {event.get('event_type')}"
        badge = event.get("badge") or {}
        badge_id, state = badge.get("id"), badge.get("state")
        if not isinstance(badge_id, str) or not isinstance(state, str):
            return "ignored: no badge in event"
        listed = self.store.find_listed(BADGE_LIST, badge_id)
        if listed is None:
            return "ignored: badge not ours"
        current = BadgeRecord.model_validate(listed.body.get("data") or {})
        if current.state in (state, "revoked"):
            return "unchanged"
        updated = current.model_copy(update={"state": state, "last_event_id": event_id})
        try:
            self._record(listed.member_id, updated, today, expect_state=current.state)
        except StaleWrite:
            return "ignored: changed meanwhile (Credly retries)"
        return f"updated: {current.state} -> {state}"

    # ------------------------------------------------------------------ storage

    def _record(
        self,
        member_id: str,
        badge: BadgeRecord,
        on: date,
        *,
        create: bool = False,
        expect_state: str | None = None,
    ) -> None:
        what = {
            "not_configured": f"no Credly badge for {badge.credential}: no badge template configured",
            "revoked": f"Credly badge {badge.badge_id} revoked ({badge.revoke_reason})",
        }.get(badge.state, f"Credly badge {badge.badge_id} for {badge.credential}: {badge.state}")
        event = EventRecord(
            kind=BADGE_KIND,
            key=badge_key(badge.credential, badge.application_id, badge.issue),
            occurred_on=on if badge.state == "revoked" else badge.completed_on,
            recorded_on=on,
            credential=badge.credential,
            summary=what,
            data=badge.model_dump(mode="json"),
        )
        try:
            self.store.put_event(
                member_id,
                event,
                list_keys=(BADGE_LIST, badge.badge_id) if badge.badge_id else None,
                create=create,
                expect={"state": expect_state} if expect_state else None,
            )
        except StaleWrite:
            if create:  # recorded concurrently by another delivery of the same record
                return
            raise


def default_badge_service(
    table_name: str, policy: RulesPolicy, zone: ZoneInfo, *, sleep: Callable[[float], None] | None = None
) -> BadgeService:
    """The production wiring: settings from the environment, token from Secrets Manager (cached by
    Powertools, read on each call so a rotation is picked up within the cache age)."""
    from shared.adapters.secrets import get_json_secret
    from shared.config.integrations import get_integration_settings

    settings = get_integration_settings()

    def token() -> str:
        value = get_json_secret(settings.credly_secret_name).get("token")
        if not isinstance(value, str) or not value:
            raise CredlyError(f"secret {settings.credly_secret_name} has no token")
        return value

    def client() -> CredlyClient:
        extra = {"sleep": sleep} if sleep is not None else {}
        return CredlyClient(
            settings.credly_base_url,
            settings.credly_organization_id,
            token,
            max_attempts=settings.credly_max_attempts,
            timeout=settings.credly_timeout_seconds,
            backoff_base=settings.credly_backoff_seconds,
            **extra,  # type: ignore[arg-type]
        )

    return BadgeService(
        MemberRepository(table_name),
        policy,
        client,
        zone,
        expiry=settings.credly_badge_expiry,
        organization_id=settings.credly_organization_id,
    )
