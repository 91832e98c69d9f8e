"""The services as the functions build them per request, from the settings (cheap: the settings and
the DynamoDB client behind them are cached per process). One place, so the API functions and the
staff console wire a service the same way."""

from __future__ import annotations

from shared.config.integrations import eligibility_criteria
from shared.config.settings import get_policy, get_settings
from shared.services.audits import AuditService
from shared.services.catalog import CatalogService
from shared.services.members import MemberService
from shared.services.payments import PaymentService
from shared.services.recertification import RecertificationService
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
