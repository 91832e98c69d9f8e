"""The services as the functions build them per request, from the settings (cheap: the settings and
the DynamoDB client behind them are cached per process). One place, so the API functions and the
staff console wire a service the same way."""

from __future__ import annotations

from functools import lru_cache

from shared.adapters.cognito import CognitoHostedUi, CognitoTokenVerifier
from shared.config.integrations import eligibility_criteria
from shared.config.settings import get_policy, get_settings
from shared.services.audits import AuditService
from shared.services.catalog import CatalogService
from shared.services.members import MemberService
from shared.services.payments import PaymentService
from shared.services.recertification import RecertificationService
from shared.services.staff_sign_in import StaffSessions, StaffSignIn
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository
from shared.store.payments import PaymentLedger


def catalog_service() -> CatalogService:
    return CatalogService(CatalogRepository(get_settings().table_name))


def member_service() -> MemberService:
    # Completions of activities that were not in the catalog yet count once they are (one BatchGetItem).
    return MemberService(MemberRepository(get_settings().table_name), get_policy(), catalog_service().lookup)


def audit_service() -> AuditService:
    return AuditService(MemberRepository(get_settings().table_name), get_policy())


def recertification_service() -> RecertificationService:
    return RecertificationService(
        MemberRepository(get_settings().table_name),
        get_policy(),
        eligibility_criteria(),
        catalog=catalog_service().lookup,
    )


def payment_service() -> PaymentService:
    settings = get_settings()
    return PaymentService(PaymentLedger(settings.table_name), get_policy(), settings.zone)


@lru_cache(maxsize=4)
def _token_verifier(issuer: str, client_id: str) -> CognitoTokenVerifier:
    # One per execution environment: it caches the pool's signing keys (JWKS) between requests.
    return CognitoTokenVerifier(issuer, client_id)


def staff_sessions() -> StaffSessions | None:
    """None where no user pool is configured (the local stack: no sign-in)."""
    settings = get_settings()
    if not (settings.staff_token_issuer and settings.staff_client_id):
        return None
    return StaffSessions(_token_verifier(settings.staff_token_issuer, settings.staff_client_id))


def staff_sign_in() -> StaffSignIn | None:
    """None where the hosted sign-in is not configured (the local stack)."""
    settings = get_settings()
    sessions = staff_sessions()
    if sessions is None or not (settings.staff_sign_in_domain and settings.console_url):
        return None
    return StaffSignIn(
        CognitoHostedUi(settings.staff_sign_in_domain, settings.staff_client_id),
        sessions,
        settings.console_url,
    )
