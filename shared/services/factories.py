"""The services as the functions build them per request, from the settings (cheap: the settings and
the DynamoDB client behind them are cached per process). One place, so the API functions and the
staff console wire a service the same way.

Each factory imports its service (and the stores and rules under it) when first called, not when this
module is imported: a function that serves several routes (the staff console) loads at cold start none
of them, and each route's first request loads only its own (tests/unit/test_import_closure.py keeps
it so)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config.settings import get_policy, get_settings

if TYPE_CHECKING:
    from shared.adapters.cognito import CognitoTokenVerifier
    from shared.services.audits import AuditService
    from shared.services.catalog import CatalogService
    from shared.services.members import MemberService
    from shared.services.payments import PaymentService
    from shared.services.recertification import RecertificationService
    from shared.services.staff_sign_in import StaffSessions, StaffSignIn


def catalog_service() -> CatalogService:
    from shared.services.catalog import CatalogService
    from shared.store.catalog import CatalogRepository

    return CatalogService(CatalogRepository(get_settings().table_name))


def member_service() -> MemberService:
    from shared.services.members import MemberService
    from shared.store.members import MemberRepository

    # Completions of activities that were not in the catalog yet count once they are (one BatchGetItem).
    return MemberService(MemberRepository(get_settings().table_name), get_policy(), catalog_service().lookup)


def audit_service() -> AuditService:
    from shared.services.audits import AuditService
    from shared.store.members import MemberRepository

    return AuditService(MemberRepository(get_settings().table_name), get_policy())


def recertification_service() -> RecertificationService:
    from shared.config.integrations import eligibility_criteria
    from shared.services.recertification import RecertificationService
    from shared.store.members import MemberRepository

    return RecertificationService(
        MemberRepository(get_settings().table_name),
        get_policy(),
        eligibility_criteria(),
        catalog=catalog_service().lookup,
    )


def payment_service() -> PaymentService:
    from shared.services.payments import PaymentService
    from shared.store.payments import PaymentLedger

    settings = get_settings()
    return PaymentService(PaymentLedger(settings.table_name), get_policy(), settings.zone)


@lru_cache(maxsize=4)
def _token_verifier(issuer: str, client_id: str) -> CognitoTokenVerifier:
    from shared.adapters.cognito import CognitoTokenVerifier

    # One per execution environment: it caches the pool's signing keys (JWKS) between requests.
    return CognitoTokenVerifier(issuer, client_id)


def staff_sessions() -> StaffSessions | None:
    """None where no user pool is configured (the local stack: no sign-in)."""
    from shared.services.staff_sign_in import StaffSessions

    settings = get_settings()
    if not (settings.staff_token_issuer and settings.staff_client_id):
        return None
    return StaffSessions(_token_verifier(settings.staff_token_issuer, settings.staff_client_id))


def staff_sign_in() -> StaffSignIn | None:
    """None where the hosted sign-in is not configured (the local stack)."""
    from shared.adapters.cognito import CognitoHostedUi
    from shared.services.staff_sign_in import StaffSignIn

    settings = get_settings()
    sessions = staff_sessions()
    if sessions is None or not (settings.staff_sign_in_domain and settings.console_url):
        return None
    return StaffSignIn(
        CognitoHostedUi(settings.staff_sign_in_domain, settings.staff_client_id),
        sessions,
        settings.console_url,
    )
