"""Endpoints of correction cases and of the buyer's release of invoices.

Member finance of the buyer releases an invoice ("sachlich und rechnerisch richtig"), all pending invoices of
a month it looked at, or objects to one (which opens a correction case). Billed usage disputed by the buyer
or corrected by the provider opens a case too. The parties read their own cases and state their view; the
operator's finance staff decide.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.schemas import (
    MultiLine,
    PageLinks,
    PeriodStr,
    UsageQuantity,
    _api_amount,
    json_int,
    page_out,
    query_int,
)
from marketplace.api.settlement import InvoiceOut, PartyOut, invoice_out
from marketplace.api.spec import MAX_ID, ApiModel, Money, QueryModel, money, operation
from marketplace.core.errors import PermissionDenied
from marketplace.core.money import parse_api_amount, to_cents
from marketplace.core.pagination import MAX_PAGE, MAX_PER_PAGE, paginate
from marketplace.corrections.models import MAX_STATEMENT, CaseStatus, CorrectionCase
from marketplace.corrections.operations import (
    Decision,
    add_statement,
    correct_billed_usage,
    dispute_billed_usage,
    object_to_invoice,
    resolve_case,
)
from marketplace.corrections.queries import case_for, cases_statement
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import Role
from marketplace.members.permissions import require_operator_finance
from marketplace.settlement.release import MAX_RELEASE_BATCH, release_invoice, release_invoices

#: A statement, reason or decision note: several lines, not empty.
Statement = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STATEMENT), MultiLine]
#: A corrected invoice total: euros, at most two places, up to the largest charge the ledger posts.
CorrectedAmount = Annotated[
    str,
    StringConstraints(strip_whitespace=False, pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$"),
    AfterValidator(_api_amount),
    Field(description='Euro (netto), höchstens zwei Nachkommastellen, z. B. "120.00"; 0 für eine volle Gutschrift'),
]


class StatementOut(ApiModel):
    text: str
    at: datetime | None


class DecisionOut(ApiModel):
    decision: str = Field(description="corrected oder rejected")
    note: str
    by: str = Field(description="Name der entscheidenden Person (Finanzabteilung der Betreiberin)")
    at: datetime
    quantity: str | None = Field(description="Berichtigte Menge (Verbrauch)")
    amount: Money | None = Field(description="Neu belasteter Nettobetrag")
    credit_note_id: int | None = Field(description="Die sofort ausgestellte Gutschrift")
    charge_transfer_id: int | None = Field(description="Die neue Belastung (Schlüssel correction:<Fall>)")
    charge_period: str | None = Field(description="Der offene Monat der neuen Belastung")


class CorrectionOut(ApiModel):
    """Ein Korrekturfall: was bestritten ist, beide Stellungnahmen und die Entscheidung der Betreiberin."""

    id: int
    source: str = Field(description="usage_dispute, provider_correction oder objection")
    status: str = Field(description="open, corrected oder rejected")
    period: str = Field(description="Der bestrittene Monat")
    buyer: PartyOut
    provider: PartyOut
    booking_id: int | None
    usage_id: int | None
    charge_transfer_id: int | None = Field(description="Die bestrittene Belastung")
    invoice_id: int | None = Field(description="Die Rechnung mit der Belastung oder die beanstandete Rechnung")
    invoice_number: str | None
    billed_quantity: str | None
    proposed_quantity: str | None = Field(description="Die vom Anbieter berichtigte Menge")
    buyer_statement: StatementOut
    provider_statement: StatementOut
    opened_by: str
    opened_at: datetime
    decision: DecisionOut | None


class CorrectionPage(ApiModel):
    """Eine Seite Korrekturfälle."""

    items: list[CorrectionOut]
    page: int
    per_page: int
    total: int
    links: PageLinks


def _quantity(value: Decimal | None) -> str | None:
    return f"{value:.3f}" if value is not None else None


def correction_out(case: CorrectionCase) -> CorrectionOut:
    decision = None
    if not case.is_open and case.decided_at is not None:
        recharge_period = None
        if case.recharge_transfer_id is not None:
            transfer = db.session.get(Transfer, case.recharge_transfer_id)
            recharge_period = transfer.period if transfer is not None else None
        decision = DecisionOut(
            decision=case.status.value,
            note=case.decision_note,
            by=case.decided_by.name if case.decided_by else "",
            at=case.decided_at,
            quantity=_quantity(case.corrected_quantity),
            amount=money(case.corrected_cents) if case.corrected_cents is not None else None,
            credit_note_id=case.credit_note_id,
            charge_transfer_id=case.recharge_transfer_id,
            charge_period=recharge_period,
        )
    return CorrectionOut(
        id=case.id,
        source=case.source.value,
        status=case.status.value,
        period=case.period,
        buyer=PartyOut(id=case.buyer.id, name=case.buyer.name),
        provider=PartyOut(id=case.provider.id, name=case.provider.name),
        booking_id=case.booking_id,
        usage_id=case.usage_record_id,
        charge_transfer_id=case.charge_transfer_id,
        invoice_id=case.invoice_id,
        invoice_number=case.invoice.number if case.invoice else None,
        billed_quantity=_quantity(case.billed_quantity),
        proposed_quantity=_quantity(case.proposed_quantity),
        buyer_statement=StatementOut(text=case.buyer_statement, at=case.buyer_stated_at),
        provider_statement=StatementOut(text=case.provider_statement, at=case.provider_stated_at),
        opened_by=case.opened_by.name,
        opened_at=case.opened_at,
        decision=decision,
    )


def _require_party_roles() -> Any:
    user = api_user()
    if not (user.is_operator_finance or user.has_role(Role.BUYER, Role.PROVIDER, Role.MEMBER_FINANCE)):
        raise PermissionDenied("Korrekturfälle sehen die Beteiligten und die Finanzabteilung der Betreiberin.")
    return user


# --- cases --------------------------------------------------------------------------------------------


class CorrectionsQuery(QueryModel):
    status: Literal["open", "corrected", "rejected"] | None = Field(
        default=None, description="Nur Fälle mit diesem Status"
    )
    page: query_int(ge=1, le=MAX_PAGE) = 1  # type: ignore[valid-type]
    per_page: query_int(ge=1, le=MAX_PER_PAGE) = 50  # type: ignore[valid-type]


@operation(
    api_bp,
    "GET",
    "/corrections",
    query=CorrectionsQuery,
    responses={200: CorrectionPage},
    summary="Korrekturfälle",
    tags=["corrections"],
)
def list_corrections(query: CorrectionsQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The correction cases of the caller's member as buyer or provider (operator finance: all), newest
    first, optionally of one status."""
    user = _require_party_roles()
    status = CaseStatus(query.status) if query.status else None
    body, headers = page_out(paginate(cases_statement(user, status), query.page, query.per_page), correction_out)
    return body, 200, headers


@operation(
    api_bp,
    "GET",
    "/corrections/<int:correction_id>",
    responses={200: CorrectionOut},
    summary="Ein Korrekturfall",
    tags=["corrections"],
)
def get_correction(correction_id: int) -> CorrectionOut:
    """One case of the caller's member (operator finance: any); 404 for others."""
    user = _require_party_roles()
    return correction_out(case_for(user, correction_id))


class StatementBody(ApiModel):
    statement: Statement


@operation(
    api_bp,
    "POST",
    "/corrections/<int:correction_id>/statement",
    body=StatementBody,
    responses={200: CorrectionOut, 409: None},
    summary="Stellungnahme zu einem Korrekturfall",
    tags=["corrections"],
)
def state_correction(correction_id: int, body: StatementBody) -> CorrectionOut:
    """A party (buyer or provider) gives or changes its statement while the case is open; 409 once decided."""
    user = _require_party_roles()
    return correction_out(add_statement(user, correction_id, body.statement))


class ResolveBody(ApiModel):
    decision: Literal["corrected", "rejected"] = Field(
        description="corrected: stornieren, Gutschrift, neue Belastung im nächsten offenen Monat; rejected: "
        "die Abrechnung bleibt, eine angehaltene Rechnung geht zur Freigabe zurück"
    )
    note: Statement
    quantity: UsageQuantity | None = Field(
        default=None, description="Berichtigte Menge (Verbrauch); ohne: die vom Anbieter vorgeschlagene"
    )
    amount: CorrectedAmount | None = Field(
        default=None, description="Bei einer beanstandeten Rechnung: der berichtigte Nettobetrag"
    )


@operation(
    api_bp,
    "POST",
    "/corrections/<int:correction_id>/resolve",
    body=ResolveBody,
    responses={200: CorrectionOut, 409: None},
    summary="Korrekturfall entscheiden (Finanzabteilung der Betreiberin)",
    tags=["corrections"],
)
def resolve_correction(correction_id: int, body: ResolveBody) -> CorrectionOut:
    """`corrected` reverses the disputed charge (an objection: the invoice's charges), issues the credit note
    at once when the charge is invoiced, and charges the corrected amount (`quantity` for usage, `amount` for
    an objected invoice) in the next open month with the key `correction:<id>`, naming the original invoice.
    `rejected` leaves the charge; a held invoice goes back to the buyer for release with the `note`.
    A decided case is 409: deciding twice creates nothing."""
    user = api_user()
    require_operator_finance(user, "Korrekturfälle entscheiden")  # the coarse gate first: no id is revealed
    amount = to_cents(parse_api_amount(body.amount)) if body.amount is not None else None
    decision = Decision(body.decision, body.note, quantity=body.quantity, amount_cents=amount)
    return correction_out(resolve_case(user, correction_id, decision))


# --- billed usage -------------------------------------------------------------------------------------


class BilledDisputeBody(ApiModel):
    reason: Statement


@operation(
    api_bp,
    "POST",
    "/usage/<int:usage_id>/dispute-billed",
    body=BilledDisputeBody,
    responses={201: CorrectionOut, 409: None},
    summary="Abgerechneten Verbrauch beanstanden (Korrekturfall)",
    tags=["corrections"],
)
def dispute_billed_usage_api(usage_id: int, body: BilledDisputeBody) -> tuple[CorrectionOut, int]:
    """The buyer disputes usage whose month is already billed: a correction case (or the buyer's statement
    on the provider's open correction of it); a pending invoice with the charge is held until the decision.
    409 if the month is not billed (then dispute it directly) or the case is already open."""
    return correction_out(dispute_billed_usage(api_user(), usage_id, body.reason)), 201


class UsageCorrectionBody(ApiModel):
    quantity: UsageQuantity
    reason: Statement


@operation(
    api_bp,
    "POST",
    "/usage/<int:usage_id>/correct",
    body=UsageCorrectionBody,
    responses={201: CorrectionOut, 409: None},
    summary="Abgerechneten Verbrauch berichtigen (Anbieter, Korrekturfall)",
    tags=["corrections"],
)
def correct_usage_api(usage_id: int, body: UsageCorrectionBody) -> tuple[CorrectionOut, int]:
    """The provider corrects usage of a month already billed (even closed): a correction case with the
    proposed quantity, decided by the operator; the charge is corrected in the next open month."""
    return correction_out(correct_billed_usage(api_user(), usage_id, body.quantity, body.reason)), 201


# --- releases -----------------------------------------------------------------------------------------


@operation(
    api_bp,
    "POST",
    "/invoices/<int:invoice_id>/release",
    responses={200: InvoiceOut, 409: None},
    summary="Rechnung freigeben (sachlich und rechnerisch richtig)",
    tags=["invoices"],
)
def release_invoice_api(invoice_id: int) -> InvoiceOut:
    """The buyer's finance staff certify the invoice; name and time are kept in `release`. 403 for other
    roles and for the provider's side, 404 for another member's invoice, 409 for a credit note (it needs no
    release) and for an invoice already released or objected."""
    return invoice_out(release_invoice(api_user(), invoice_id))


class ObjectionBody(ApiModel):
    reason: Statement


@operation(
    api_bp,
    "POST",
    "/invoices/<int:invoice_id>/object",
    body=ObjectionBody,
    responses={201: CorrectionOut, 409: None},
    summary="Rechnung beanstanden (öffnet einen Korrekturfall)",
    tags=["invoices"],
)
def object_invoice_api(invoice_id: int, body: ObjectionBody) -> tuple[CorrectionOut, int]:
    """Instead of releasing, the buyer's finance staff object to the whole invoice with a reason: it is
    `objected` (not settled) until the operator decides the correction case this opens."""
    return correction_out(object_to_invoice(api_user(), invoice_id, body.reason)), 201


class ReleaseMonthBody(ApiModel):
    period: PeriodStr
    invoice_ids: Annotated[
        list[json_int(ge=1, le=MAX_ID)],  # type: ignore[valid-type]
        Field(min_length=1, max_length=MAX_RELEASE_BATCH, description="Die geprüften Rechnungen des Monats"),
    ]


class ReleasedOut(ApiModel):
    period: str
    released: list[InvoiceOut]


@operation(
    api_bp,
    "POST",
    "/invoices/release",
    body=ReleaseMonthBody,
    responses={200: ReleasedOut, 409: None},
    summary="Alle geprüften Rechnungen eines Monats freigeben",
    tags=["invoices"],
)
def release_month_api(body: ReleaseMonthBody) -> ReleasedOut:
    """Releases the month's pending invoices to the caller's member that the caller looked at, all or none:
    `invoice_ids` must be exactly the month's pending invoices now (409 otherwise, e.g. when one arrived
    since the list was read)."""
    released = release_invoices(api_user(), body.period, list(body.invoice_ids))
    return ReleasedOut(period=body.period, released=[invoice_out(invoice) for invoice in released])
