"""Wording of the notices (e-mail text and print-batch row), from the member and the notice due."""

from __future__ import annotations

from typing import Any

from shared.adapters.notifier import Email
from shared.rules import schedule
from shared.rules.invoices import invoice_number
from shared.rules.schedule import NoticeDue
from shared.store.records import MemberProfile

TITLES = {
    schedule.RENEWAL_BEFORE: "Your annual renewal fee is coming due",
    schedule.RENEWAL_DUE: "Your annual renewal fee is due this month",
    schedule.RENEWAL_LATE: "Your annual renewal fee is overdue",
    schedule.CCP_PROGRESS: "Your CCP points for this cycle",
    schedule.LAPSE: "Your certification has lapsed",
    schedule.AUDIT: "You have been selected for a CCP audit",
}


def dollars(cents: int | None) -> str:
    return "" if cents is None else f"${cents / 100:,.2f}"


RENEWALS = (schedule.RENEWAL_BEFORE, schedule.RENEWAL_DUE, schedule.RENEWAL_LATE)


def invoice_of(member_id: str, credential: str, notice: NoticeDue) -> str:
    """The number of the invoice a renewal notice is about (``GET /members/{id}/invoices``)."""
    return invoice_number(member_id, credential, int(str(notice.data["due_month"])[:4]))


def body_lines(credential: str, notice: NoticeDue, invoice: str = "", pay_at: str = "") -> list[str]:
    data = notice.data
    if notice.kind in RENEWALS:
        lines = [
            f"The {credential} annual fee of {dollars(data.get('amount_due_cents'))} is due in {data['due_month']}."
        ]
        if data.get("overdue_since"):
            lines.append(
                f"It has been overdue since {data['overdue_since']}; please pay to stay in good standing."
            )
        if invoice:
            lines.append(
                f"Invoice {invoice}: {dollars(data.get('amount_due_cents'))}. Pay online at {pay_at}."
            )
        return lines
    if notice.kind == schedule.CCP_PROGRESS:
        lines = [
            f"Your {credential} CCP cycle ends on {data['cycle_end']} ({data['days_before_end']} days from now).",
            f"Points earned: {data['earned']} of {data['required']} required; {data['remaining']} remaining.",
        ]
        lines.extend(
            f"  {category}: {points}" for category, points in sorted(data.get("by_category", {}).items())
        )
        return lines
    if notice.kind == schedule.LAPSE:
        return [
            f"Your {credential} certification lapsed on {data['lapsed_on']} ({', '.join(data['reasons'])}).",
            "You may recertify; see the member portal for your options.",
        ]
    return [
        f"Your {credential} CCP cycle {data['cycle_start']} - {data['cycle_end']} was selected for audit.",
        f"Please submit your documentation by {data['deadline']}.",
    ]


def email_for(profile: MemberProfile, credential: str, notice: NoticeDue, pay_at: str = "") -> Email:
    """The notice e-mail; a renewal names its invoice and where to pay it (``pay_at``)."""
    greeting = f"Dear {profile.first_name} {profile.last_name},"
    invoice = invoice_of(profile.member_id, credential, notice) if notice.kind in RENEWALS and pay_at else ""
    lines = body_lines(credential, notice, invoice, pay_at)
    text = "\n".join([greeting, "", *lines, "", "Stay Certified"])
    return Email(to=str(profile.email), subject=f"{TITLES[notice.kind]} ({credential})", text=text)


def print_row(
    profile: MemberProfile, credential: str, notice: NoticeDue, pay_at: str = ""
) -> dict[str, Any] | None:
    """The mail-house row, or None when the member has no postal address (e-mail only)."""
    address = profile.postal_address
    if address is None:
        return None
    return {
        "member_id": profile.member_id,
        "name": f"{profile.first_name} {profile.last_name}",
        "address_line1": address.line1,
        "address_line2": address.line2 or "",
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "credential": credential,
        "notice": notice.kind,
        "period": notice.period,
        "amount_due": dollars(notice.data.get("amount_due_cents")),
        "invoice": invoice_of(profile.member_id, credential, notice) if notice.kind in RENEWALS else "",
        "pay_at": pay_at if notice.kind in RENEWALS else "",
    }
