"""`GET /api/v1/bookings/{id}/charges`: a booking's money month by month, for either party."""

from __future__ import annotations

from pydantic import Field

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.spec import ApiModel, Money, money, operation
from marketplace.bookings.queries import booking_for
from marketplace.settlement.charges import MonthCharges, booking_charges


class DocumentOut(ApiModel):
    id: int
    number: str
    type_code: str = Field(description="380 Rechnung, 381 Gutschrift")
    status: str = Field(description="invoiced (Freigabe offen), objected, released, settled oder paid")


class MonthChargesOut(ApiModel):
    """Ein Monat einer Buchung: Belastungen, Gutschriften (Stornos), anteilige USt und die Belege."""

    period: str = Field(description="Der berechnete Monat (JJJJ-MM)")
    net: Money = Field(description="Summe der Belastungen (netto)")
    credits: Money = Field(description="Summe der Stornos dieser Belastungen (netto, positiv)")
    vat: Money = Field(
        description="USt der Buchung auf netto minus Gutschriften, gerundet; die Rechnung weist die USt auf "
        "ihre Gesamtsumme aus"
    )
    gross: Money
    status: str = Field(description="billed, invoiced, objected, released, settled oder paid")
    transfer_ids: list[int]
    invoice_ids: list[int]
    documents: list[DocumentOut]


class BookingChargesOut(ApiModel):
    booking_id: int
    items: list[MonthChargesOut]
    net: Money = Field(description="Summe netto über alle Monate, nach Gutschriften")


def month_out(month: MonthCharges) -> MonthChargesOut:
    return MonthChargesOut(
        period=month.period,
        net=money(month.net_cents),
        credits=money(month.credit_cents),
        vat=money(month.vat_cents),
        gross=money(month.gross_cents),
        status=month.state,
        transfer_ids=month.transfer_ids,
        invoice_ids=month.invoice_ids,
        documents=[
            DocumentOut(id=d.id, number=d.number, type_code=d.type_code, status=d.state) for d in month.documents
        ],
    )


@operation(
    api_bp,
    "GET",
    "/bookings/<int:booking_id>/charges",
    responses={200: BookingChargesOut},
    summary="Berechnete Beträge einer Buchung je Monat (beide Seiten)",
    tags=["bookings"],
)
def booking_charges_api(booking_id: int) -> BookingChargesOut:
    """Each month the booking was charged: net, credits (reversals), the VAT share and the invoices and credit
    notes that document it, with how far they have come. Another member's booking is 404."""
    booking = booking_for(api_user(), booking_id)
    months = booking_charges(booking)
    return BookingChargesOut(
        booking_id=booking.id,
        items=[month_out(m) for m in months],
        net=money(sum(m.balance_cents for m in months)),
    )
