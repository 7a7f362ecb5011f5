"""Booking pages: the member's bookings, one booking with its history, and the decisions on it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.bookings.forms import BookingRequestForm, DeclineForm
from marketplace.bookings.models import BookingStatus
from marketplace.bookings.operations import (
    BookingRequest,
    accept_booking,
    decline_booking,
    request_booking,
    withdraw_booking,
)
from marketplace.bookings.queries import booking_for, bookings_statement
from marketplace.catalogue.queries import service_for
from marketplace.core.errors import InvalidInput
from marketplace.core.forms import ActionForm, apply_domain_errors
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.extensions import db
from marketplace.members.models import Role

bp = Blueprint("bookings", __name__, url_prefix="/bookings", cli_group="bookings")


@bp.cli.command("refresh")
def refresh_command() -> None:
    """Bring booking statuses up to date (accepted -> active -> ended by date)."""
    import click

    from marketplace.bookings.operations import refresh_booking_statuses

    moved = refresh_booking_statuses()
    db.session.commit()
    click.echo(f"{moved} Statuswechsel")


@bp.get("")
@login_required
def index() -> str:
    sides = [s for s, role in (("buyer", Role.BUYER), ("provider", Role.PROVIDER)) if current_user.has_role(role)]
    if not sides:
        abort(403)
    side = request.args.get("as") if request.args.get("as") in sides else sides[0]
    status_arg = request.args.get("status")
    status = BookingStatus(status_arg) if status_arg in {s.value for s in BookingStatus} else None
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    result = paginate(bookings_statement(current_user.member_id, side, status), page, per_page)
    return render_template(
        "bookings/index.html", page=result, side=side, sides=sides, status=status, statuses=list(BookingStatus)
    )


@bp.post("/request/<int:service_id>")
@login_required
def create(service_id: int) -> Response | tuple[str, int]:
    service = service_for(current_user, service_id)
    form = BookingRequestForm()
    if form.validate_on_submit():
        try:
            booking = request_booking(
                current_user,
                BookingRequest(
                    service_id=service.id,
                    quantity=form.quantity.data,
                    starts_on=form.starts_on.data,
                    ends_on=form.ends_on.data,
                    note=form.note.data or "",
                ),
            )
        except InvalidInput as error:
            db.session.rollback()
            apply_domain_errors(form, error)
        else:
            db.session.commit()
            flash(_("Ihre Anfrage ist beim Anbieter eingegangen."), "success")
            return redirect(url_for("bookings.show", booking_id=booking.id))
    from marketplace.catalogue.views import render_service

    return render_service(service, form), 422


@bp.get("/<int:booking_id>")
@login_required
def show(booking_id: int) -> str:
    booking = booking_for(current_user, booking_id)
    return render_template("bookings/show.html", booking=booking, action_form=ActionForm(), decline_form=DeclineForm())


@bp.post("/<int:booking_id>/accept")
@login_required
def accept(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    if ActionForm().validate_on_submit():
        accept_booking(current_user, booking)
        db.session.commit()
        flash(_("Die Anfrage ist angenommen."), "success")
    return redirect(url_for("bookings.show", booking_id=booking_id))


@bp.post("/<int:booking_id>/decline")
@login_required
def decline(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    form = DeclineForm()
    if form.validate_on_submit():
        decline_booking(current_user, booking, form.reason.data or "")
        db.session.commit()
        flash(_("Die Anfrage ist abgelehnt."), "info")
    return redirect(url_for("bookings.show", booking_id=booking_id))


@bp.post("/<int:booking_id>/withdraw")
@login_required
def withdraw(booking_id: int) -> Response:
    booking = booking_for(current_user, booking_id)
    if ActionForm().validate_on_submit():
        withdraw_booking(current_user, booking)
        db.session.commit()
        flash(_("Ihre Anfrage ist zurückgezogen."), "info")
    return redirect(url_for("bookings.show", booking_id=booking_id))
