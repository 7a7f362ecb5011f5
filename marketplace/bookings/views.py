"""Booking pages: the member's bookings, one booking with its history, and the decisions on it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.bookings.costs import monthly_cost, terms_of, usage_cents
from marketplace.bookings.forms import (
    BookingRequestForm,
    CancelForm,
    DeclineForm,
    DisputeForm,
    MessageForm,
    ReferencesForm,
    UsageForm,
)
from marketplace.bookings.models import (
    COMMITTED_STATUSES,
    REFERENCE_FIELDS,
    Booking,
    BookingStatus,
    UsageRecord,
    effective_status,
    usage_state,
)
from marketplace.bookings.operations import (
    BookingRequest,
    accept_booking,
    cancel_booking,
    cancels_before_start,
    confirm_usage,
    decline_booking,
    dispute_usage,
    earliest_cancellation,
    post_message,
    preview_cancellation,
    record_usage,
    request_booking,
    review_deadline,
    update_booking_references,
    withdraw_booking,
)
from marketplace.bookings.queries import booking_filter_choices, booking_for, bookings_statement
from marketplace.catalogue.queries import service_for
from marketplace.catalogue.views import REQUEST_FORM, render_service
from marketplace.core.edge import errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.forms import ActionForm
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.timeutil import month_label, today
from marketplace.core.validators import parse_query_int
from marketplace.extensions import db
from marketplace.members.invoice_profiles import invoice_profile_of
from marketplace.members.models import InvoiceReference, Role

bp = Blueprint("bookings", __name__, url_prefix="/bookings")

#: Where the settlement area puts its function booking -> months charged (net, credits, VAT, documents):
#: the page is the bookings', the charges are the ledger's and the invoices the settlement's, which build on
#: bookings, not the other way round.
BOOKING_CHARGES = "bookings.charges"
#: Where the ledger puts its function month -> closed?, so that usage entered for a closed month says that it
#: is billed later, in the next open month (month-end's adjustment), rather than in its own month.
MONTH_CLOSED = "bookings.month_closed"


def booking_costs(booking: Booking) -> dict[str, Any]:
    """The money of the booking page: the price terms, a full month's estimate (recurring services) and,
    once billed, each month's charges with their invoices."""
    charges_of = current_app.extensions.get(BOOKING_CHARGES)
    billed = booking.unit_price_cents is not None and charges_of is not None
    return {
        "terms": terms_of(booking),
        "monthly": monthly_cost(booking),
        "months": charges_of(booking) if billed else [],
        "usage_cents": usage_cents,
    }


def _request_form() -> BookingRequestForm:
    """The request form, its invoice references filled with the defaults of the buyer's invoice profile."""
    profile = invoice_profile_of(current_user.member_id)
    return BookingRequestForm(data={reference.value: profile.default(reference) for reference in InvoiceReference})


@bp.record_once
def _offer_request_form(state: BlueprintSetupState) -> None:
    """The service page (catalogue) shows the booking request form of this area."""
    state.app.extensions[REQUEST_FORM] = _request_form


def _sides() -> list[str]:
    """The lists the user may see: its member's as buyer and as provider; all bookings for the operator."""
    sides = [s for s, role in (("buyer", Role.BUYER), ("provider", Role.PROVIDER)) if current_user.has_role(role)]
    return [*sides, "all"] if current_user.is_operator_staff else sides


@bp.get("")
@login_required
def index() -> str:
    sides = _sides()
    if not sides:
        abort(403)
    side = request.args.get("as") if request.args.get("as") in sides else sides[0]
    status_arg = request.args.get("status")
    status = BookingStatus(status_arg) if status_arg in {s.value for s in BookingStatus} else None
    choices = booking_filter_choices(current_user.member_id, side)
    # a filter value the list does not offer is ignored, as an unknown status is
    chosen = {
        name: value if any(value == option for option, _label in choices[name]) else None
        for name in ("provider", "buyer", "service")
        for value in [parse_query_int(request.args.get(f"{name}_id"))]
    }
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    statement = bookings_statement(
        current_user.member_id,
        side,
        status,
        provider_id=chosen["provider"],
        buyer_id=chosen["buyer"],
        service_id=chosen["service"],
    )
    result = paginate(statement, page, per_page)
    day = today()
    return render_template(
        "bookings/index.html",
        page=result,
        shown_status={b.id: effective_status(b, day) for b in result.items},
        side=side,
        sides=sides,
        status=status,
        statuses=list(BookingStatus),
        choices=choices,
        chosen=chosen,
    )


@bp.post("/request/<int:service_id>")
@login_required
@writes
def create(service_id: int) -> Response | tuple[str, int]:
    service = service_for(current_user, service_id)
    form = BookingRequestForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            booking = request_booking(
                current_user,
                BookingRequest(
                    service_id=service.id,
                    quantity=form.quantity.data,
                    starts_on=form.starts_on.data,
                    ends_on=form.ends_on.data,
                    note=form.note.data or "",
                    references={name: form[name].data for name in REFERENCE_FIELDS},
                ),
            )
            flash(_("Ihre Anfrage ist beim Anbieter eingegangen."), "success")
            return redirect(url_for("bookings.show", booking_id=booking.id))

    return render_service(service, form), 422


def _history(booking: Booking) -> list[tuple[Any, str, Any]]:
    """Transitions and messages in the order they happened: (when, kind, item)."""
    entries = [(e.at, "event", e) for e in booking.events] + [(m.created_at, "message", m) for m in booking.messages]
    return sorted(entries, key=lambda entry: (entry[0].replace(tzinfo=None), entry[1]))


def render_booking(
    booking: Booking, status: int = 200, *, dispute_usage_id: int | None = None, **forms: Any
) -> tuple[str, int]:
    """The booking page with its forms; a failed form passes itself in to show its errors (a failed dispute
    also names its usage record, so that only that row shows the error)."""
    defaults: dict[str, Any] = {
        "action_form": ActionForm(),
        "decline_form": DeclineForm(),
        "cancel_form": CancelForm(prefix="cancel"),
        "message_form": MessageForm(),
        "usage_form": UsageForm(),
        "dispute_form": DisputeForm(prefix="dispute"),
        "references_form": ReferencesForm(prefix="refs", data=booking.references()),
    }
    defaults.update(forms)
    shown_status = effective_status(booking, today())
    can_cancel = shown_status in COMMITTED_STATUSES and booking.can_cancel(current_user)
    return render_template(
        "bookings/show.html",
        booking=booking,
        shown_status=shown_status,
        history=_history(booking),
        earliest_end=earliest_cancellation(booking) if can_cancel else None,
        before_start=can_cancel and cancels_before_start(booking),
        can_cancel=can_cancel,
        costs=booking_costs(booking),
        can_edit_references=booking.can_edit_references(current_user) and booking.invoiced_at is None,
        review_deadline=review_deadline,
        dispute_usage_id=dispute_usage_id,
        usage_states={record.id: usage_state(record, today()).value for record in booking.usage_records},
        **defaults,
    ), status


@bp.get("/<int:booking_id>")
@login_required
def show(booking_id: int) -> tuple[str, int]:
    return render_booking(booking_for(current_user, booking_id))


@bp.post("/<int:booking_id>/cancel")
@login_required
@writes
def cancel(booking_id: int) -> Response | tuple[str, int]:
    """First the confirmation page (end date, what is still charged); only its button ends the booking."""
    booking = booking_for(current_user, booking_id)
    form = CancelForm(prefix="cancel")
    if form.validate_on_submit():
        if form.confirmed.data != "1":
            with errors_on(form, Conflict):
                costs = booking_costs(booking)
                charged = {month.period for month in costs["months"] if month.net_cents}
                preview = preview_cancellation(current_user, booking, form.ends_on.data, charged)
                confirm = CancelForm(
                    prefix="cancel", formdata=None, ends_on=preview.ends_on, reason=form.reason.data, confirmed="1"
                )
                return render_template(
                    "bookings/cancel.html", booking=booking, preview=preview, form=confirm, costs=costs
                ), 200
            return render_booking(booking, 422, cancel_form=form)
        with errors_on(form, Conflict, InvalidInput):
            cancel_booking(current_user, booking, form.reason.data or "", ends_on=form.ends_on.data)
            if booking.ends_on is not None and booking.ends_on < booking.starts_on:
                flash(_("Die Buchung ist storniert, bevor sie begann; es wird nichts berechnet."), "info")
            else:
                flash(_("Die Buchung ist gekündigt; sie endet am %(day)s.", day=format_date(booking.ends_on)), "info")
            return redirect(url_for("bookings.show", booking_id=booking_id))
    return render_booking(booking, 422, cancel_form=form)


@bp.post("/<int:booking_id>/references")
@login_required
@writes
def references(booking_id: int) -> Response | tuple[str, int]:
    booking = booking_for(current_user, booking_id)
    form = ReferencesForm(prefix="refs")
    status = 422
    if form.validate_on_submit():
        try:
            with errors_on(form, InvalidInput):
                update_booking_references(
                    current_user, booking, {name: form[name].data or "" for name in REFERENCE_FIELDS}
                )
                flash(_("Die Rechnungsreferenzen sind gespeichert."), "success")
                return redirect(url_for("bookings.show", booking_id=booking_id, _anchor="referenzen"))
        except Conflict as conflict:  # invoiced meanwhile: the page says so and shows what the invoices carry
            db.session.rollback()
            form.form_errors.append(conflict.detail)
            status = 409
    return render_booking(booking_for(current_user, booking_id), status, references_form=form)


@bp.post("/<int:booking_id>/messages")
@login_required
@writes
def message(booking_id: int) -> Response | tuple[str, int]:
    booking = booking_for(current_user, booking_id)
    form = MessageForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            post_message(current_user, booking, form.body.data)
            flash(_("Ihre Nachricht ist gesendet."), "success")
            return redirect(url_for("bookings.show", booking_id=booking_id, _anchor="verlauf"))
    return render_booking(booking, 422, message_form=form)


@bp.post("/<int:booking_id>/usage")
@login_required
@writes
def usage(booking_id: int) -> Response | tuple[str, int]:
    booking = booking_for(current_user, booking_id)
    form = UsageForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            record = record_usage(current_user, booking, form.period.data, form.quantity.data)
            flash(_usage_entered(record.period), "success")
            return redirect(url_for("bookings.show", booking_id=booking_id, _anchor="verbrauch"))
    return render_booking(booking, 422, usage_form=form)


def _usage_entered(period: str) -> str:
    """The message after usage is entered; for a closed month, when it will be billed instead."""
    month_closed = current_app.extensions.get(MONTH_CLOSED)
    if month_closed is not None and month_closed(period):
        return _(
            "Der Verbrauch für %(period)s ist erfasst. Der Monat ist bereits abgeschlossen: nach der Prüfung durch "
            "die abnehmende Stelle wird er im nächsten offenen Monat als Nachberechnung abgerechnet.",
            period=month_label(period),
        )
    return _("Der Verbrauch für %(period)s ist erfasst.", period=month_label(period))


def _usage_of(booking: Booking, usage_id: int) -> UsageRecord:
    record = db.session.get(UsageRecord, usage_id)
    if record is None or record.booking_id != booking.id:
        abort(404)
    return record


@bp.post("/<int:booking_id>/usage/<int:usage_id>/confirm")
@login_required
@writes
def confirm(booking_id: int, usage_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    record = _usage_of(booking, usage_id)
    if ActionForm().validate_on_submit():
        confirm_usage(current_user, record)
        flash(_("Der Verbrauch für %(period)s ist bestätigt.", period=month_label(record.period)), "success")
    return redirect(url_for("bookings.show", booking_id=booking_id, _anchor="verbrauch"))


@bp.post("/<int:booking_id>/usage/<int:usage_id>/dispute")
@login_required
@writes
def dispute(booking_id: int, usage_id: int) -> Response | tuple[str, int]:
    booking = booking_for(current_user, booking_id)
    record = _usage_of(booking, usage_id)
    form = DisputeForm(prefix="dispute")
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            dispute_usage(current_user, record, form.reason.data)
            flash(_("Ihr Einspruch ist eingetragen; der Verbrauch wird bis zur Klärung nicht abgerechnet."), "info")
            return redirect(url_for("bookings.show", booking_id=booking_id, _anchor="verbrauch"))
    form.reason.id = f"dispute-reason-{record.id}"  # the summary's link leads to this row's field
    return render_booking(booking, 422, dispute_form=form, dispute_usage_id=record.id)


@bp.post("/<int:booking_id>/accept")
@login_required
@writes
def accept(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    if ActionForm().validate_on_submit():
        accept_booking(current_user, booking)
        flash(_("Die Anfrage ist angenommen."), "success")
    return redirect(url_for("bookings.show", booking_id=booking_id))


@bp.post("/<int:booking_id>/decline")
@login_required
@writes
def decline(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    form = DeclineForm()
    if form.validate_on_submit():
        decline_booking(current_user, booking, form.reason.data or "")
        flash(_("Die Anfrage ist abgelehnt."), "info")
    return redirect(url_for("bookings.show", booking_id=booking_id))


@bp.post("/<int:booking_id>/withdraw")
@login_required
@writes
def withdraw(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    if ActionForm().validate_on_submit():
        withdraw_booking(current_user, booking)
        flash(_("Ihre Anfrage ist zurückgezogen."), "info")
    return redirect(url_for("bookings.show", booking_id=booking_id))
