"""The API's routes. Each: parse input, load or 404, check permission, call one operation, respond."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from werkzeug.wrappers import Response

from marketplace.api import api_bp
from marketplace.api.auth import api_user
from marketplace.api.schemas import (
    BillingRunCreate,
    BookingCreate,
    DeclineBody,
    ServiceCreate,
    ServiceUpdate,
    booking_json,
    decimal_or_none,
    parse_body,
    service_json,
)
from marketplace.bookings.models import BookingStatus
from marketplace.bookings.operations import (
    BookingRequest,
    accept_booking,
    decline_booking,
    request_booking,
    withdraw_booking,
)
from marketplace.bookings.queries import booking_for, bookings_statement
from marketplace.catalogue.operations import ServiceInput, create_service, update_service
from marketplace.catalogue.queries import catalogue_statement, service_for
from marketplace.core.errors import InvalidInput, PermissionDenied
from marketplace.core.money import cents_to_str
from marketplace.core.pagination import Page, clamp_page_args, paginate
from marketplace.extensions import db
from marketplace.ledger.billing import run_billing
from marketplace.ledger.queries import member_balances


def _page_json(page: Page, serialise: Any) -> dict[str, Any]:
    return {
        "items": [serialise(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput.field(name, "Bitte eine ganze Zahl angeben.") from None


@api_bp.get("/me")
def me() -> Response:
    user = api_user()
    return jsonify(
        user={"email": user.email, "name": user.name, "roles": sorted(role.value for role in user.roles)},
        member={"id": user.member.id, "name": user.member.name},
    )


@api_bp.get("/services")
def list_services() -> Response:
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"))
    statement = catalogue_statement(
        q=(request.args.get("q") or "")[:200],
        category=request.args.get("category") or None,
        provider_id=_int_arg("provider_id"),
    )
    return jsonify(_page_json(paginate(statement, page, per_page), service_json))


@api_bp.post("/services")
def create_service_api() -> tuple[Response, int]:
    body: ServiceCreate = parse_body(ServiceCreate, request.get_data())
    service = create_service(
        api_user(),
        ServiceInput(
            title=body.title,
            description=body.description,
            category=body.category,
            unit=body.unit,
            unit_price=decimal_or_none(body.unit_price),
            vat_category=body.vat_category,
            vat_rate=decimal_or_none(body.vat_rate),
            capacity=body.capacity,
            capacity_set=True,
            status=body.status,
        ),
    )
    db.session.commit()
    return jsonify(service_json(service)), 201


@api_bp.get("/services/<int:service_id>")
def get_service(service_id: int) -> Response:
    return jsonify(service_json(service_for(api_user(), service_id)))


@api_bp.patch("/services/<int:service_id>")
def patch_service(service_id: int) -> Response:
    body: ServiceUpdate = parse_body(ServiceUpdate, request.get_data())
    user = api_user()
    service = service_for(user, service_id)
    fields = body.model_fields_set
    update_service(
        user,
        service,
        ServiceInput(
            title=body.title,
            description=body.description,
            category=body.category,
            unit=body.unit,
            unit_price=decimal_or_none(body.unit_price),
            vat_category=body.vat_category,
            vat_rate=decimal_or_none(body.vat_rate),
            capacity=body.capacity,
            capacity_set="capacity" in fields,
            status=body.status,
        ),
    )
    db.session.commit()
    return jsonify(service_json(service))


@api_bp.post("/bookings")
def create_booking() -> tuple[Response, int]:
    body: BookingCreate = parse_body(BookingCreate, request.get_data())
    booking = request_booking(
        api_user(),
        BookingRequest(
            service_id=body.service_id,
            quantity=body.quantity,
            starts_on=body.starts_on,
            ends_on=body.ends_on,
            note=body.note,
        ),
    )
    db.session.commit()
    return jsonify(booking_json(booking)), 201


@api_bp.get("/bookings")
def list_bookings() -> Response:
    user = api_user()
    side = request.args.get("as", "buyer")
    if side not in ("buyer", "provider"):
        raise InvalidInput.field("as", "Erlaubt sind „buyer“ und „provider“.")
    status_arg = request.args.get("status")
    if status_arg and status_arg not in {s.value for s in BookingStatus}:
        raise InvalidInput.field("status", f"Unbekannter Status „{status_arg}“.")
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"))
    statement = bookings_statement(user.member_id, side, BookingStatus(status_arg) if status_arg else None)
    return jsonify(_page_json(paginate(statement, page, per_page), booking_json))


@api_bp.get("/bookings/<int:booking_id>")
def get_booking(booking_id: int) -> Response:
    return jsonify(booking_json(booking_for(api_user(), booking_id)))


@api_bp.post("/bookings/<int:booking_id>/accept")
def accept(booking_id: int) -> Response:
    user = api_user()
    booking = accept_booking(user, booking_for(user, booking_id))
    db.session.commit()
    return jsonify(booking_json(booking))


@api_bp.post("/bookings/<int:booking_id>/decline")
def decline(booking_id: int) -> Response:
    body: DeclineBody = parse_body(DeclineBody, request.get_data())
    user = api_user()
    booking = decline_booking(user, booking_for(user, booking_id), body.reason)
    db.session.commit()
    return jsonify(booking_json(booking))


@api_bp.post("/bookings/<int:booking_id>/withdraw")
def withdraw(booking_id: int) -> Response:
    user = api_user()
    booking = withdraw_booking(user, booking_for(user, booking_id))
    db.session.commit()
    return jsonify(booking_json(booking))


@api_bp.post("/billing-runs")
def create_billing_run() -> tuple[Response, int]:
    body: BillingRunCreate = parse_body(BillingRunCreate, request.get_data())
    user = api_user()
    if not user.is_operator_finance:
        raise PermissionDenied("Abrechnungsläufe startet nur die Finanzabteilung des Betreibers.")
    run = run_billing(body.period, user)
    db.session.commit()
    return jsonify(period=run.period, transfers_created=run.transfers_created, total=cents_to_str(run.total_cents)), 201


@api_bp.get("/ledger/balances")
def balances() -> Response:
    user = api_user()
    if not user.is_finance:
        raise PermissionDenied("Salden sehen nur Finanzrollen.")
    rows = member_balances(None if user.is_operator_finance else user.member_id)
    return jsonify(
        items=[
            {"member_id": r.member_id, "member_name": r.member_name, "balance": cents_to_str(r.balance_cents)}
            for r in rows
        ],
        total=cents_to_str(sum(r.balance_cents for r in rows)),
    )
