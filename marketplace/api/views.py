"""The API's routes for me, services, bookings, billing runs and balances.

Each: parse input (the decorator), load or 404, check permission, call one operation, respond.
"""

from __future__ import annotations

from typing import Any

from flask import after_this_request, current_app, jsonify, request, url_for
from werkzeug.wrappers import Response

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.months import one_usage_out
from marketplace.api.schemas import (
    BalancesOut,
    BillingRunAccepted,
    BillingRunCreate,
    BillingRunOut,
    BillingRunState,
    BookingCreate,
    BookingOut,
    BookingPage,
    BookingQuery,
    BookingReferencesUpdate,
    CancelBody,
    DeclineBody,
    MeOut,
    ServiceCreate,
    ServiceOut,
    ServicePage,
    ServiceQuery,
    ServiceUpdate,
    UsageCreate,
    UsageOut,
    decimal_or_none,
    page_out,
)
from marketplace.api.spec import money, operation
from marketplace.bookings.models import REFERENCE_FIELDS
from marketplace.bookings.operations import (
    BookingRequest,
    accept_booking,
    cancel_booking,
    decline_booking,
    record_usage,
    request_booking,
    update_booking_references,
    withdraw_booking,
)
from marketplace.bookings.queries import booking_for, bookings_statement
from marketplace.catalogue.models import ServiceStatus
from marketplace.catalogue.operations import ServiceInput, create_service, update_service
from marketplace.catalogue.queries import catalogue_page, catalogue_statement, rendered_cache, service_for
from marketplace.core.errors import NotFound, PermissionDenied
from marketplace.core.pagination import paginate
from marketplace.core.readonly import reads_only
from marketplace.extensions import db
from marketplace.ledger.queries import member_balances
from marketplace.members.permissions import require_operator_finance
from marketplace.monthend import jobs
from marketplace.monthend.billing import start_billing
from marketplace.monthend.models import BillingRun, RunStatus

_BOOKING_LINKS = {
    "GetBooking": ("get_booking", {"booking_id": "$response.body#/id"}),
    "AcceptBooking": ("accept", {"booking_id": "$response.body#/id"}),
    "DeclineBooking": ("decline", {"booking_id": "$response.body#/id"}),
    "WithdrawBooking": ("withdraw", {"booking_id": "$response.body#/id"}),
    "CancelBooking": ("cancel", {"booking_id": "$response.body#/id"}),
    "RecordUsage": ("record_usage_api", {"booking_id": "$response.body#/id"}),
}


@operation(api_bp, "GET", "/me", responses={200: MeOut}, summary="Eigener Nutzer und eigenes Mitglied", tags=["me"])
def me() -> MeOut:
    user = api_user()
    return MeOut.model_validate(
        {
            "user": {"email": user.email, "name": user.name, "roles": sorted(role.value for role in user.roles)},
            "member": {"id": user.member.id, "name": user.member.name},
        }
    )


@reads_only
@operation(
    api_bp,
    "GET",
    "/services",
    query=ServiceQuery,
    responses={200: ServicePage},
    summary="Veröffentlichte Leistungen suchen",
    tags=["services"],
)
def list_services(query: ServiceQuery) -> Response:
    # The answer is the same for every caller (published services only), so it is serialised once per
    # catalogue generation and query string and then served from the cache.
    def answer() -> tuple[bytes, dict[str, str]]:
        statement = catalogue_statement(q=query.q, category=query.category, provider_id=query.provider_id)
        body, headers = page_out(catalogue_page(statement, query.page, query.per_page), ServiceOut.of)
        return jsonify(ServicePage.model_validate(body).model_dump(mode="json")).get_data(), headers

    key = ("api-services", tuple(sorted(request.args.items(multi=True))))
    data, headers = rendered_cache.get(key, answer)
    return current_app.response_class(data, status=200, headers=headers, mimetype="application/json")


@operation(
    api_bp,
    "POST",
    "/services",
    body=ServiceCreate,
    responses={201: ServiceOut},
    summary="Leistung anlegen (Anbieter)",
    tags=["services"],
    links={201: {"GetService": ("get_service", {"service_id": "$response.body#/id"})}},
)
def create_service_api(body: ServiceCreate) -> tuple[ServiceOut, int]:
    """Publishing a not-taxable (O) service needs its § 2b reasons (`tax_reasons`), as on the pages; a draft
    may lack them. An exempt (E) service needs its exemption code (`vatex_code`). Otherwise 422."""
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
            tax_legal_basis=body.tax_legal_basis,
            tax_reasons=body.tax_reasons,
            tax_reasoning=body.tax_reasoning,
            vatex_code=body.vatex_code,
        ),
        require_tax_reasons=True,
    )
    return ServiceOut.of(service), 201


@operation(
    api_bp,
    "GET",
    "/services/<int:service_id>",
    responses={200: ServiceOut},
    summary="Eine Leistung",
    tags=["services"],
)
def get_service(service_id: int) -> ServiceOut:
    return ServiceOut.of(service_for(api_user(), service_id))


@operation(
    api_bp,
    "PATCH",
    "/services/<int:service_id>",
    body=ServiceUpdate,
    responses={200: ServiceOut},
    summary="Leistung ändern (eigenes Angebot; ein neuer Preis wird eine neue Preisversion)",
    tags=["services"],
)
def patch_service(service_id: int, body: ServiceUpdate) -> ServiceOut:
    """A change that publishes a not-taxable (O) service, makes a published service O or changes its tax
    reasons or legal basis needs the § 2b reasons (`tax_reasons`) in the result; a change to E needs the
    exemption code (`vatex_code`). Otherwise 422, and nothing changes."""
    user = api_user()
    service = service_for(user, service_id)
    if service.provider_id != user.member_id:  # published services are public, but not theirs to change
        raise NotFound("Diese Leistung gibt es nicht.")
    fields = body.model_fields_set
    # Only a change that touches publication or the tax treatment is held to the § 2b rule, so that services
    # published through the API before it carried the reasons can still change their price or title.
    touches_tax = body.status is ServiceStatus.PUBLISHED or bool(
        fields & {"vat_category", "tax_reasons", "tax_legal_basis"}
    )
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
            tax_legal_basis=body.tax_legal_basis,
            tax_reasons=body.tax_reasons,
            tax_reasoning=body.tax_reasoning,
            vatex_code=body.vatex_code,
        ),
        require_tax_reasons=touches_tax,
    )
    return ServiceOut.of(service)


@operation(
    api_bp,
    "POST",
    "/bookings",
    body=BookingCreate,
    responses={201: BookingOut, 409: None},
    summary="Leistung anfragen (Käufer)",
    tags=["bookings"],
    links={201: _BOOKING_LINKS},
)
def create_booking(body: BookingCreate) -> tuple[BookingOut, int]:
    booking = request_booking(
        api_user(),
        BookingRequest(
            service_id=body.service_id,
            quantity=body.quantity,
            starts_on=body.starts_on,
            ends_on=body.ends_on,
            note=body.note,
            references={name: getattr(body, name) for name in REFERENCE_FIELDS},
        ),
    )
    return BookingOut.of(booking), 201


@operation(
    api_bp,
    "GET",
    "/bookings",
    query=BookingQuery,
    responses={200: BookingPage},
    summary="Buchungen des eigenen Mitglieds (als Käufer oder Anbieter); der Betreiber sieht alle",
    tags=["bookings"],
)
def list_bookings(query: BookingQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    user = api_user()
    side = query.side or ("all" if user.is_operator_staff else "buyer")
    if side == "all" and not user.is_operator_staff:
        raise PermissionDenied("Alle Buchungen sieht nur der Betreiber.")
    statement = bookings_statement(
        user.member_id,
        side,
        query.status,
        provider_id=query.provider_id,
        buyer_id=query.buyer_id,
        service_id=query.service_id,
    )
    body, headers = page_out(paginate(statement, query.page, query.per_page), BookingOut.of)
    return body, 200, headers


@operation(
    api_bp,
    "GET",
    "/bookings/<int:booking_id>",
    responses={200: BookingOut},
    summary="Eine Buchung (für beide Seiten)",
    tags=["bookings"],
)
def get_booking(booking_id: int) -> BookingOut:
    return BookingOut.of(booking_for(api_user(), booking_id))


@operation(
    api_bp,
    "PATCH",
    "/bookings/<int:booking_id>",
    body=BookingReferencesUpdate,
    responses={200: BookingOut, 409: None},
    summary="Rechnungsreferenzen einer Buchung ändern (abnehmende Stelle), bis sie in Rechnung gestellt ist",
    tags=["bookings"],
)
def patch_booking(booking_id: int, body: BookingReferencesUpdate) -> BookingOut:
    user = api_user()
    changes = {name: getattr(body, name) or "" for name in REFERENCE_FIELDS if name in body.model_fields_set}
    return BookingOut.of(update_booking_references(user, booking_for(user, booking_id), changes))


@operation(
    api_bp,
    "POST",
    "/bookings/<int:booking_id>/accept",
    responses={200: BookingOut, 409: None},
    summary="Anfrage annehmen (Anbieter); 409 bei falschem Status oder voller Kapazität",
    tags=["bookings"],
)
def accept(booking_id: int) -> BookingOut:
    user = api_user()
    return BookingOut.of(accept_booking(user, booking_for(user, booking_id)))


@operation(
    api_bp,
    "POST",
    "/bookings/<int:booking_id>/decline",
    body=DeclineBody,
    responses={200: BookingOut, 409: None},
    summary="Anfrage ablehnen (Anbieter)",
    tags=["bookings"],
)
def decline(booking_id: int, body: DeclineBody) -> BookingOut:
    user = api_user()
    return BookingOut.of(decline_booking(user, booking_for(user, booking_id), body.reason))


@operation(
    api_bp,
    "POST",
    "/bookings/<int:booking_id>/withdraw",
    responses={200: BookingOut, 409: None},
    summary="Anfrage zurückziehen (Käufer)",
    tags=["bookings"],
)
def withdraw(booking_id: int) -> BookingOut:
    user = api_user()
    return BookingOut.of(withdraw_booking(user, booking_for(user, booking_id)))


@operation(
    api_bp,
    "POST",
    "/bookings/<int:booking_id>/cancel",
    body=CancelBody,
    responses={200: BookingOut, 409: None},
    summary="Buchung kündigen (beide Seiten); 409 innerhalb von Kündigungsfrist oder Mindestlaufzeit",
    tags=["bookings"],
)
def cancel(booking_id: int, body: CancelBody) -> BookingOut:
    user = api_user()
    return BookingOut.of(cancel_booking(user, booking_for(user, booking_id), body.reason, ends_on=body.ends_on))


@operation(
    api_bp,
    "POST",
    "/bookings/<int:booking_id>/usage",
    body=UsageCreate,
    responses={201: UsageOut, 409: None},
    summary="Verbrauch eines Monats erfassen (Anbieter, nutzungsabhängige Leistungen)",
    description="Erneutes Erfassen desselben Monats korrigiert ihn, solange er weder bestätigt noch abgerechnet ist; "
    "die abnehmende Stelle prüft ihn dann binnen 14 Tagen (`review_until`), danach gilt er als anerkannt.",
    tags=["bookings"],
)
def record_usage_api(booking_id: int, body: UsageCreate) -> tuple[UsageOut, int]:
    user = api_user()
    record = record_usage(user, booking_for(user, booking_id), body.period, body.quantity)
    return one_usage_out(record), 201


def _run_state(run: BillingRun) -> BillingRunState:
    done = run.status is RunStatus.DONE
    return BillingRunState(
        id=run.id,
        period=run.period,
        status=run.status.value,
        progress=run.percent,
        processed=run.processed,
        planned=run.planned,
        created_at=run.created_at,
        started_at=run.started_at,
        updated_at=run.updated_at,
        finished_at=run.finished_at,
        transfers_created=run.transfers_created if done else None,
        total=money(run.total_cents) if done else None,
        skipped=run.skipped if done else None,
        error=run.error if run.status is RunStatus.FAILED else None,
    )


@operation(
    api_bp,
    "POST",
    "/billing-runs",
    body=BillingRunCreate,
    responses={201: BillingRunOut, 202: BillingRunAccepted, 409: None},
    summary="Abrechnungslauf für einen Monat (Finanzabteilung des Betreibers)",
    description="Ein Monat mit höchstens `BILLING_JOB_THRESHOLD` (Vorgabe 20.000) abrechenbaren Buchungen wird "
    "sofort abgerechnet: 201 mit dem Ergebnis. Ein größerer läuft als Auftrag: 202 mit `id`, `status` und "
    "`progress` und der Kopfzeile `Location`; `GET /api/v1/billing-runs/{id}` zeigt den Stand und am Ende das "
    "Ergebnis. 409 für einen künftigen oder abgeschlossenen Monat.",
    tags=["billing"],
    links={202: {"GetBillingRun": ("get_billing_run", {"run_id": "$response.body#/id"})}},
)
def create_billing_run(body: BillingRunCreate) -> tuple[BillingRunOut | BillingRunAccepted, int, dict[str, str]]:
    user = api_user()
    require_operator_finance(user, "Abrechnungsläufe starten")
    run = start_billing(user, body.period)
    if run.status is RunStatus.QUEUED:
        run_id = run.id

        @after_this_request
        def _submit(response: Response) -> Response:
            # after the decorator's commit: the job must find its row (a failed commit answers non-2xx)
            if response.status_code == 202:
                jobs.submit(run_id)
            return response

        accepted = BillingRunAccepted(id=run.id, period=run.period, status=run.status.value, progress=run.percent)
        return accepted, 202, {"Location": url_for("api.get_billing_run", run_id=run.id)}
    out = BillingRunOut.model_validate(
        {
            "period": run.period,
            "transfers_created": run.transfers_created,
            "total": money(run.total_cents),
            "skipped": run.skipped,
        }
    )
    return out, 201, {}


@operation(
    api_bp,
    "GET",
    "/billing-runs/<int:run_id>",
    responses={200: BillingRunState},
    summary="Stand eines Abrechnungslaufs (Finanzabteilung des Betreibers)",
    tags=["billing"],
)
def get_billing_run(run_id: int) -> BillingRunState:
    require_operator_finance(api_user(), "Abrechnungsläufe ansehen")
    run = db.session.get(BillingRun, run_id)
    if run is None:
        raise NotFound("Diesen Abrechnungslauf gibt es nicht.")
    return _run_state(run)


@operation(
    api_bp,
    "GET",
    "/ledger/balances",
    responses={200: BalancesOut},
    summary="Salden je Mitglied (Betreiber: alle, Mitglieds-Finanzen: eigenes)",
    tags=["ledger"],
)
def balances() -> BalancesOut:
    user = api_user()
    if not user.is_finance:
        raise PermissionDenied("Salden sehen nur Finanzrollen.")
    rows = member_balances(None if user.is_operator_finance else user.member_id)
    return BalancesOut.model_validate(
        {
            "items": [
                {"member_id": r.member_id, "member_name": r.member_name, "balance": money(r.balance_cents)}
                for r in rows
            ],
            "total": money(sum(r.balance_cents for r in rows)),
        }
    )
