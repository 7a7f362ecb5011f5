"""Settlement endpoints of the API: invoices (XRechnung), settlements with netting, approval and collection,
and the Stripe webhook."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from flask import Response
from pydantic import Field, StringConstraints

from marketplace.api import api_bp
from marketplace.api.auth import api_user
from marketplace.api.spec import ApiModel, Money, QueryModel, Raw, money, operation
from marketplace.core.errors import PermissionDenied
from marketplace.core.pagination import paginate
from marketplace.members.models import User
from marketplace.settlement import xrechnung
from marketplace.settlement.models import Invoice
from marketplace.settlement.queries import invoice_for, invoices_statement

PeriodText = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


def _require_finance(user: User) -> None:
    if not user.is_finance:
        raise PermissionDenied("Rechnungen und Verrechnungen sieht nur die Finanzabteilung.")


def _require_operator_finance(user: User, what: str) -> None:
    if not user.is_operator_finance:
        raise PermissionDenied(f"{what} darf nur die Finanzabteilung des Betreibers.")


class PartyOut(ApiModel):
    id: int
    name: str


class InvoiceLineOut(ApiModel):
    position: int
    description: str
    booking_id: int | None
    transfer_id: int
    net: Money


class InvoiceOut(ApiModel):
    id: int
    number: str
    type_code: str = Field(description="380 Rechnung, 381 Gutschrift")
    period: str = Field(description="Der abgeschlossene Monat, der das Dokument ausgestellt hat.")
    service_start: date
    service_end: date
    provider: PartyOut
    buyer: PartyOut
    vat_category: str = Field(description="S, O oder E")
    vat_rate: str
    issue_date: date
    due_date: date
    net: Money
    vat: Money
    gross: Money
    credited_invoice_id: int | None
    lines: list[InvoiceLineOut]


class InvoicePage(ApiModel):
    items: list[InvoiceOut]
    page: int
    per_page: int
    total: int


class InvoicesQuery(QueryModel):
    period: PeriodText | None = None
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 50


def invoice_out(invoice: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.id,
        number=invoice.number,
        type_code=invoice.type_code.value,
        period=invoice.period,
        service_start=invoice.service_start,
        service_end=invoice.service_end,
        provider=PartyOut(id=invoice.provider.id, name=invoice.provider.name),
        buyer=PartyOut(id=invoice.buyer.id, name=invoice.buyer.name),
        vat_category=invoice.vat_category.value,
        vat_rate=f"{invoice.vat_rate:.2f}",
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        net=money(invoice.net_cents),
        vat=money(invoice.vat_cents),
        gross=money(invoice.gross_cents),
        credited_invoice_id=invoice.credited_invoice_id,
        lines=[
            InvoiceLineOut(
                position=line.position,
                description=line.description,
                booking_id=line.booking_id,
                transfer_id=line.transfer_id,
                net=money(line.net_cents),
            )
            for line in invoice.lines
        ],
    )


@operation(
    api_bp,
    "GET",
    "/invoices",
    query=InvoicesQuery,
    responses={200: InvoicePage},
    summary="Rechnungen und Gutschriften",
    tags=["invoices"],
)
def list_invoices(query: InvoicesQuery) -> InvoicePage:
    """Invoices and credit notes the caller's member issued or received (operator finance: all),
    optionally of one month (`period`, the closed month that issued them)."""
    user = api_user()
    _require_finance(user)
    page = paginate(invoices_statement(user, query.period), query.page, query.per_page)
    return InvoicePage(
        items=[invoice_out(invoice) for invoice in page.items],
        page=page.page,
        per_page=page.per_page,
        total=page.total,
    )


@operation(
    api_bp,
    "GET",
    "/invoices/<int:invoice_id>/xrechnung",
    responses={200: Raw("application/xml", description="XRechnung 3.0 (UBL 2.1 Invoice oder CreditNote)")},
    summary="XRechnung einer Rechnung oder Gutschrift",
    tags=["invoices"],
)
def invoice_xrechnung(invoice_id: int) -> Response:
    """The XRechnung XML of an invoice or credit note of the caller's member; 404 for others."""
    user = api_user()
    _require_finance(user)
    invoice = invoice_for(user, invoice_id)
    return Response(
        xrechnung.render(invoice),
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{xrechnung.filename(invoice)}"'},
    )
