"""The month cycle in the API: the months with what keeps them open, and usage through its whole life
(recorded, in review, confirmed or deemed accepted, disputed, corrected, billed, credited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.corrections import CorrectionOut, correction_out
from marketplace.api.schemas import DisputeBody, UsageOut, UsagePage, UsageQuery, page_out
from marketplace.api.spec import ApiModel, money, operation
from marketplace.bookings.models import UsageRecord, UsageState, review_until, usage_state
from marketplace.bookings.operations import confirm_usage, dispute_usage
from marketplace.bookings.queries import booking_for
from marketplace.core.errors import NotFound, PermissionDenied
from marketplace.core.pagination import paginate
from marketplace.core.timeutil import today
from marketplace.corrections.operations import dispute_billed_usage
from marketplace.extensions import db
from marketplace.ledger.reports import period_overview
from marketplace.members.models import User
from marketplace.monthend.outstanding import OutstandingKind, billed_at_by_period, outstanding, visible_to
from marketplace.monthend.usage import charges_of, usage_amount_cents, usage_statement


class OutstandingOut(ApiModel):
    kind: OutstandingKind = Field(
        description="earlier_month_open, billing_run_unfinished, charge_missing (Abrechnungslauf nötig), "
        "usage_in_review oder usage_disputed (mit Begründung übergehbar)"
    )
    id: str | int = Field(description="Der Monat, die Buchung, der Verbrauch oder der Lauf, um den es geht")
    detail: str


class PeriodItem(ApiModel):
    period: str
    status: str = Field(description="open oder closed (auch jeder Monat vor einem abgeschlossenen)")
    billed_at: datetime | None = Field(description="Ende des letzten vollständigen Abrechnungslaufs des Monats")
    outstanding: list[OutstandingOut] = Field(
        description="Was einem Abschluss im Weg steht (offene Monate: für den Betreiber alles, für Mitglieder das "
        "Eigene); leer, wenn der Monat abgeschlossen werden kann oder abgeschlossen ist"
    )


class PeriodList(ApiModel):
    items: list[PeriodItem]


def usage_out(record: UsageRecord, charges: dict[int, list[Any]]) -> UsageOut:
    amount = usage_amount_cents(record)
    return UsageOut.model_validate(
        {
            "id": record.id,
            "booking_id": record.booking_id,
            "period": record.period,
            "quantity": f"{record.quantity:.3f}",
            "status": usage_state(record, today()),
            "review_until": review_until(record),
            "amount": money(amount) if amount is not None else None,
            "dispute_reason": record.dispute_reason,
            "charges": [
                {
                    "transfer_id": c.transfer_id,
                    "kind": c.kind,
                    "invoice_id": c.invoice_id,
                    "amount": money(c.cents),
                }
                for c in charges.get(record.id, [])
            ],
        }
    )


def one_usage_out(record: UsageRecord) -> UsageOut:
    return usage_out(record, charges_of([record]))


@operation(
    api_bp,
    "GET",
    "/periods",
    responses={200: PeriodList},
    summary="Monate mit Status, Abrechnung und offenen Punkten (Finanzrollen)",
    tags=["ledger"],
)
def list_periods() -> PeriodList:
    """The months from the installation's first to the current one, newest first: `closed` (also every month
    before a closed one), the end of the last complete billing run, and for open months what keeps them from
    being closed (in order: earlier month open, billing run unfinished, charges missing, usage in review or
    disputed)."""
    user = api_user()
    if not user.is_finance:
        raise PermissionDenied("Monate sehen nur Finanzrollen.")
    member = None if user.is_operator_finance else user.member_id
    billed = billed_at_by_period()
    items = []
    for row in period_overview(limit=120):
        open_items = visible_to(outstanding(row.period), member) if row.status.value == "open" else []
        items.append(
            {
                "period": row.period,
                "status": row.status.value,
                "billed_at": billed.get(row.period),
                "outstanding": [item.as_dict() for item in open_items],
            }
        )
    return PeriodList.model_validate({"items": items})


def _visible_usage(user: User, usage_id: int) -> UsageRecord:
    record = db.session.get(UsageRecord, usage_id)
    if record is None or not (record.booking.can_view(user) or user.is_operator_finance):
        raise NotFound("Diesen Verbrauch gibt es nicht.")
    return record


@operation(
    api_bp,
    "GET",
    "/usage",
    query=UsageQuery,
    responses={200: UsagePage},
    summary="Verbrauchsmeldungen mit Status und Abrechnung (beide Seiten einer Buchung)",
    tags=["bookings"],
)
def list_usage(query: UsageQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Usage of the caller's member as buyer or provider (the operator's finance staff: all), oldest month
    first; `booking_id` of another member's booking is 404."""
    user = api_user()
    if query.booking_id is not None and not user.is_operator_finance:
        booking_for(user, query.booking_id)
    statement = usage_statement(user, booking_id=query.booking_id, period=query.period, state=query.status)
    page = paginate(statement, query.page, query.per_page)
    charges = charges_of(list(page.items))
    body, headers = page_out(page, lambda record: usage_out(record, charges))
    return body, 200, headers


@operation(
    api_bp,
    "POST",
    "/usage/<int:usage_id>/confirm",
    responses={200: UsageOut, 409: None},
    summary="Verbrauch bestätigen (Einkauf der abnehmenden Stelle, binnen der Prüffrist)",
    tags=["bookings"],
)
def confirm_usage_api(usage_id: int) -> UsageOut:
    """409 once the review period is over (the usage is then deemed accepted) or when it is billed."""
    user = api_user()
    return one_usage_out(confirm_usage(user, _visible_usage(user, usage_id)))


@operation(
    api_bp,
    "POST",
    "/usage/<int:usage_id>/dispute",
    body=DisputeBody,
    responses={200: UsageOut, 201: CorrectionOut, 409: None},
    summary="Verbrauch bestreiten (Einkauf der abnehmenden Stelle, mit Begründung); abgerechneter Verbrauch "
    "wird zum Korrekturfall",
    tags=["bookings"],
)
def dispute_usage_api(usage_id: int, body: DisputeBody) -> UsageOut | tuple[CorrectionOut, int]:
    """Within the review period: 200, the usage is disputed and not billed until the provider corrects it.
    Already billed: 201 with the correction case the operator decides (the invoice listing the charge is held
    meanwhile). 409 when the usage is already answered or its review period is over and it is not billed."""
    user = api_user()
    record = _visible_usage(user, usage_id)
    if usage_state(record, today()) is UsageState.BILLED:
        return correction_out(dispute_billed_usage(user, record.id, body.reason)), 201
    return one_usage_out(dispute_usage(user, record, body.reason))
