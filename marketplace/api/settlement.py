"""Settlement endpoints of the API: invoices (XRechnung), settlements with netting, approval and collection,
and the Stripe webhook."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Literal

from flask import Response, current_app, request
from pydantic import Field

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.schemas import PageLinks, PeriodOrAll, PeriodStr, page_out, query_int
from marketplace.api.spec import BINARY, ApiModel, Money, QueryModel, Raw, RawBody, money, operation
from marketplace.core.errors import PermissionDenied
from marketplace.core.pagination import MAX_PAGE, MAX_PER_PAGE, paginate
from marketplace.members.models import Role, User
from marketplace.members.permissions import require_operator_finance
from marketplace.payments.collection import collect_settlement
from marketplace.payments.events import WebhookRejected, apply_event, verify_signature
from marketplace.payments.queries import debits_seen_by
from marketplace.settlement import xrechnung
from marketplace.settlement.models import Invoice, PaymentAdvice, Settlement
from marketplace.settlement.operations import approve_settlement, create_settlement
from marketplace.settlement.paying import SelfPayReason
from marketplace.settlement.queries import (
    AdviceView,
    advice_for,
    advice_view,
    invoice_for,
    invoices_statement,
    settlement_for,
    view_of,
)
from marketplace.settlement.release import overdue_clause


def _require_finance(user: User) -> None:
    if not user.is_finance:
        raise PermissionDenied("Rechnungen und Verrechnungen sieht nur die Finanzabteilung.")


def _require_invoice_reader(user: User) -> None:
    if not (user.is_finance or user.has_role(Role.BUYER, Role.PROVIDER)):
        raise PermissionDenied("Rechnungen sehen die Finanzabteilung, die Einkäufer und die Anbieter des Mitglieds.")


class PartyOut(ApiModel):
    id: int
    name: str


class InvoiceLineOut(ApiModel):
    position: int
    description: str
    booking_id: int | None
    transfer_id: int
    net: Money
    quantity: str = Field(description="Menge (BT-129); net = quantity × unit_price − allowance, auf den Cent")
    unit_code: str = Field(description="Einheit nach UN/ECE Rec. 20 (BT-130): MON, HUR, H87, E34, IE; C62 pauschal")
    unit_price: Money
    allowance: Money = Field(description="Nachlass der Position (BG-27), z. B. für einen anteiligen Monat")
    allowance_reason: str
    period_start: date | None
    period_end: date | None
    accounting_reference: str = Field(description="Kostenstelle der Buchung (BT-133)")


class ReleaseOut(ApiModel):
    """Die Freigabe durch die Finanzabteilung der Rechnungsempfängerin („sachlich und rechnerisch richtig“)."""

    status: str = Field(description="pending (wartet), released (freigegeben) oder objected (beanstandet)")
    by: str | None = Field(description="Name der Person, die freigegeben oder beanstandet hat; null bei Gutschriften")
    at: datetime | None
    due: date | None = Field(description="Freigabe bis (Rechnungsdatum + Freigabefrist); null bei Gutschriften")
    objection_reason: str = Field(description="Begründung einer Beanstandung")
    reminded_at: datetime | None = Field(description="Letzte Erinnerung an die Freigabe")


class InvoiceOut(ApiModel):
    id: int
    number: str
    type_code: str = Field(description="380 Rechnung, 326 Abschlagsrechnung (Teilrechnung), 381 Gutschrift")
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
    release: ReleaseOut
    payment_means_code: str = Field(description="97 Verrechnung, 59 SEPA-Lastschrift des Betreibers, 58 Überweisung")
    order_reference: str = Field(description="BT-13")
    contract_reference: str = Field(description="BT-12")
    buyer_accounting_reference: str = Field(description="BT-19")
    project_reference: str = Field(description="BT-11")
    lines: list[InvoiceLineOut]


class InvoicePage(ApiModel):
    """Eine Seite Rechnungen und Gutschriften."""

    items: list[InvoiceOut]
    page: int
    per_page: int
    total: int
    links: PageLinks


class InvoicesQuery(QueryModel):
    period: PeriodOrAll | None = None
    release: Literal["pending", "released", "objected", "overdue"] | None = Field(
        default=None, description="Nur Rechnungen mit dieser Freigabe; overdue: noch offen nach der Freigabefrist"
    )
    page: query_int(ge=1, le=MAX_PAGE) = 1  # type: ignore[valid-type]
    per_page: query_int(ge=1, le=MAX_PER_PAGE) = 50  # type: ignore[valid-type]


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
        release=ReleaseOut(
            status=invoice.release_status.value,
            by=invoice.release_decided_by.name if invoice.release_decided_by else None,
            at=invoice.release_decided_at,
            due=invoice.release_due,
            objection_reason=invoice.objection_reason,
            reminded_at=invoice.release_reminded_at,
        ),
        payment_means_code=invoice.payment_means_code,
        order_reference=invoice.order_reference,
        contract_reference=invoice.contract_reference,
        buyer_accounting_reference=invoice.buyer_accounting_reference,
        project_reference=invoice.project_reference,
        lines=[
            InvoiceLineOut(
                position=line.position,
                description=line.description,
                booking_id=line.booking_id,
                transfer_id=line.transfer_id,
                net=money(line.net_cents),
                quantity=f"{(line.quantity if line.quantity is not None else 1):f}",
                unit_code=line.unit_code or "C62",
                unit_price=money(line.unit_price_cents if line.unit_price_cents is not None else line.net_cents),
                allowance=money(line.allowance_cents),
                allowance_reason=line.allowance_reason,
                period_start=line.period_start,
                period_end=line.period_end,
                accounting_reference=line.accounting_reference,
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
def list_invoices(query: InvoicesQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Invoices and credit notes the caller's member issued or received (operator finance: all),
    optionally of one month (`period`, the closed month that issued them) or with one release state
    (`release=overdue`: invoices still pending after their release deadline, for the operator's follow-up).
    Read-only also for buyers (the invoices their member received) and provider staff (those it issued)."""
    user = api_user()
    _require_invoice_reader(user)
    statement = invoices_statement(user, query.period)
    if query.release == "overdue":
        statement = statement.where(overdue_clause())
    elif query.release:
        statement = statement.where(Invoice.release_status == query.release)
    body, headers = page_out(paginate(statement, query.page, query.per_page), invoice_out)
    return body, 200, headers


@operation(
    api_bp,
    "GET",
    "/invoices/<int:invoice_id>/xrechnung",
    responses={
        200: Raw("application/xml", description="XRechnung 3.0 (UBL 2.1 Invoice oder CreditNote)", download=True)
    },
    summary="XRechnung einer Rechnung oder Gutschrift",
    tags=["invoices"],
)
def invoice_xrechnung(invoice_id: int) -> Response:
    """The XRechnung XML of an invoice or credit note of the caller's member; 404 for others. The same bytes
    as `application/octet-stream` for a client that asks for that (`Accept`), e.g. to store the file as is."""
    user = api_user()
    _require_invoice_reader(user)
    invoice = invoice_for(user, invoice_id)
    mimetype = request.accept_mimetypes.best_match(["application/xml", BINARY]) or "application/xml"
    return Response(
        xrechnung.render(invoice),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{xrechnung.filename(invoice)}"', "Vary": "Accept"},
    )


class SettlementCreate(ApiModel):
    period: PeriodStr


class PositionOut(ApiModel):
    member_id: int
    member_name: str
    amount: Money = Field(description="Positiv: die Stelle erhält Geld; negativ: sie zahlt.")
    advice_number: str | None = Field(description="Das Zahlungsavis, dessen Belege die Position ergeben.")


PAID_BY = (
    "debit: der Betreiber zieht den Betrag per SEPA-Lastschrift ein (Zahlungsweg Lastschrift mit Mandat, und jeder "
    "Beleg, den die Stelle zahlt, nennt die Lastschrift) und zahlt ihn an die empfangende Stelle aus; "
    "transfer: die zahlende Stelle überweist selbst, der Betreiber bucht die Zahlung als Direktzahlung."
)
PAID_BY_REASON = (
    "Warum die Stelle selbst zahlt (null bei debit): clearing (Zahlungsweg Verrechnung), transfer (Zahlungsweg "
    "Überweisung), no_mandate (Lastschrift ohne vollständiges Mandat), documents (ein Beleg, den sie zahlt, nennt "
    "eine andere Zahlungsart als die Lastschrift), paid_directly (als Direktzahlung gebucht)."
)
PaidByField = Literal["debit", "transfer"]
PaidByReasonField = Literal["clearing", "transfer", "no_mandate", "documents", "paid_directly"]


class InstructionOut(ApiModel):
    id: int
    debtor_member_id: int
    creditor_member_id: int
    amount: Money
    status: str = Field(description="open, collecting oder paid")
    debtor_advice_number: str | None = Field(description="Das Zahlungsavis der zahlenden Stelle.")
    creditor_advice_number: str | None = Field(description="Das Zahlungsavis der empfangenden Stelle.")
    paid_by: PaidByField = Field(description=PAID_BY)
    paid_by_reason: PaidByReasonField | None = Field(description=PAID_BY_REASON)


class AdviceSummaryOut(ApiModel):
    """Ein Zahlungsavis in der Verrechnung und wie es aufgeht: Summe der Belege = Position = Saldo der
    Zahlungsanweisungen (erhalten − gezahlt), auf den Cent."""

    member_id: int
    member_name: str
    number: str
    due_date: date
    position: Money = Field(description="Positiv: die Stelle erhält Geld; negativ: sie zahlt.")
    document_count: int
    documents_total: Money = Field(description="Summe der Belege aus Sicht der Stelle")
    instructions_total: Money = Field(
        description="Was die Stelle laut Zahlungsanweisungen erhält, abzüglich was sie zahlt"
    )


class DebitOut(ApiModel):
    debtor_member_id: int
    attempt: int
    amount: Money
    status: str = Field(description="pending, processing, succeeded oder failed")
    payment_intent_id: str | None
    last_error: str


class SettlementOut(ApiModel):
    id: int
    period: str
    status: str = Field(description="draft, approved, collecting, paid oder failed")
    created_by: str
    approved_by: str | None
    positions: list[PositionOut]
    instructions: list[InstructionOut]
    payments: list[DebitOut]
    advices: list[AdviceSummaryOut] = Field(
        description="Die Zahlungsavise (Mitgliedsfinanzen: das eigene); leer bei Verrechnungen von vor ihrer Einführung"
    )


class SelfPayerOut(ApiModel):
    """Eine zahlende Stelle, die der Einzug nicht belastet: sie überweist selbst."""

    member_id: int
    member_name: str
    amount: Money = Field(description="Ihre offenen Zahlungsanweisungen")
    reason: PaidByReasonField = Field(description=PAID_BY_REASON)


class CollectionOut(ApiModel):
    """Was dieser Einzug getan hat."""

    submitted: int = Field(description="Lastschriften, die Stripe mit diesem Aufruf angenommen hat")
    running: int = Field(description="Lastschriften, die schon liefen und unverändert weiterlaufen")
    failed: int = Field(description="Lastschriften, die abgelehnt wurden (ihre Anweisungen sind wieder offen)")
    unconfirmed: int = Field(
        description="Lastschriften ohne Antwort von Stripe; ein erneuter Einzug sendet sie mit demselben Schlüssel"
    )
    self_paying: list[SelfPayerOut] = Field(
        description="Zahlende Stellen, deren Zahlungsweg keine Lastschrift ist: sie überweisen selbst, ihre "
        "Anweisungen bleiben offen, bis die Zahlung als Direktzahlung gebucht ist"
    )
    message: str = Field(description="Dasselbe in einem Satz, wie es die Seite der Verrechnung meldet")


class CollectedSettlementOut(SettlementOut):
    collection: CollectionOut


def _number(advice: PaymentAdvice | None) -> str | None:
    return advice.number if advice is not None else None


def _value(reason: SelfPayReason | None) -> Any:
    return reason.value if reason is not None else None


def settlement_out(settlement: Settlement, user: User) -> SettlementOut:
    view = view_of(settlement, user)
    numbers = {a.member_id: a.number for a in settlement.advices}
    return SettlementOut(
        id=settlement.id,
        period=settlement.period,
        status=settlement.status.value,
        created_by=settlement.created_by.email,
        approved_by=settlement.approved_by.email if settlement.approved_by else None,
        positions=[
            PositionOut(
                member_id=p.member_id,
                member_name=p.member.name,
                amount=money(p.amount_cents),
                advice_number=numbers.get(p.member_id),
            )
            for p in view.positions
        ],
        instructions=[
            InstructionOut(
                id=i.id,
                debtor_member_id=i.debtor_member_id,
                creditor_member_id=i.creditor_member_id,
                amount=money(i.amount_cents),
                status=i.status.value,
                debtor_advice_number=_number(i.debtor_advice),
                creditor_advice_number=_number(i.creditor_advice),
                paid_by=view.ways[i.id].paid_by.value,
                paid_by_reason=_value(view.ways[i.id].reason),
            )
            for i in view.instructions
        ],
        payments=[
            DebitOut(
                debtor_member_id=d.debtor_member_id,
                attempt=d.attempt,
                amount=money(d.amount_cents),
                status=d.status.value,
                payment_intent_id=d.payment_intent_id,
                last_error=d.last_error,
            )
            for d in debits_seen_by(settlement, user)
        ],
        advices=[
            AdviceSummaryOut(
                member_id=a.advice.member_id,
                member_name=a.advice.member.name,
                number=a.advice.number,
                due_date=a.advice.due_date,
                position=money(a.advice.position_cents),
                document_count=len(a.lines),
                documents_total=money(a.documents_cents),
                instructions_total=money(a.instructions_cents),
            )
            for a in view.advices
        ],
    )


@operation(
    api_bp,
    "POST",
    "/settlements",
    body=SettlementCreate,
    responses={201: SettlementOut, 409: None},
    summary="Verrechnung eines abgeschlossenen Monats anlegen",
    tags=["settlements"],
    links={201: {"GetSettlement": ("get_settlement", {"settlement_id": "$response.body#/id"})}},
)
def create_settlement_api(body: SettlementCreate) -> tuple[SettlementOut, int]:
    """Settle a closed month: the released invoices and the credit notes of the months up to it that no
    earlier settlement covered; per member a payment advice listing them, its position (their sum) and the
    netted payment instructions (at most one fewer than members with a position), each referring to the
    debtor's and the creditor's advice. 409 if the month is open or already settled, or nothing released
    is left to settle."""
    user = api_user()
    require_operator_finance(user, "Verrechnungen anlegen")  # the coarse gate first: no id is revealed
    settlement = create_settlement(user, body.period)
    return settlement_out(settlement, user), 201


@operation(
    api_bp,
    "GET",
    "/settlements/<int:settlement_id>",
    responses={200: SettlementOut},
    summary="Eine Verrechnung",
    tags=["settlements"],
)
def get_settlement(settlement_id: int) -> SettlementOut:
    """Positions, instructions and payment states; member finance sees its own member's part."""
    user = api_user()
    _require_finance(user)
    return settlement_out(settlement_for(user, settlement_id), user)


class AdviceDocumentOut(ApiModel):
    invoice_id: int
    number: str
    type_code: str = Field(description="380 Rechnung, 381 Gutschrift")
    period: str = Field(description="Der abgeschlossene Monat, der das Dokument ausgestellt hat.")
    issue_date: date
    due_date: date
    counterparty: PartyOut = Field(description="Die andere Partei des Dokuments (Anbieter oder Abnehmer)")
    amount: Money = Field(
        description="Der Zahlbetrag des Dokuments aus Sicht der Stelle: positiv erhält sie ihn, negativ zahlt sie ihn"
    )


class AdviceInstructionOut(ApiModel):
    id: int
    debtor: PartyOut
    creditor: PartyOut
    debtor_advice_number: str | None
    creditor_advice_number: str | None
    amount: Money
    status: str = Field(description="open, collecting oder paid")


class AdviceOut(ApiModel):
    """Das Zahlungsavis einer Stelle: alle Rechnungen und Gutschriften hinter ihrer Position. Die Position ist
    die Summe der Belege; die Zahlungsanweisungen, die sich auf das Avis beziehen, ergeben sie ebenfalls."""

    number: str
    settlement_id: int
    period: str
    member: PartyOut
    position: Money = Field(description="Positiv: die Stelle erhält Geld; negativ: sie zahlt.")
    due_date: date
    documents: list[AdviceDocumentOut]
    documents_total: Money
    instructions: list[AdviceInstructionOut]
    instructions_total: Money = Field(
        description="Was die Stelle laut Zahlungsanweisungen erhält, abzüglich was sie zahlt"
    )


def advice_out(view: AdviceView) -> AdviceOut:
    advice = view.advice
    return AdviceOut(
        number=advice.number,
        settlement_id=advice.settlement_id,
        period=advice.settlement.period,
        member=PartyOut(id=advice.member.id, name=advice.member.name),
        position=money(advice.position_cents),
        due_date=advice.due_date,
        documents=[
            AdviceDocumentOut(
                invoice_id=line.invoice.id,
                number=line.invoice.number,
                type_code=line.invoice.type_code.value,
                period=line.invoice.period,
                issue_date=line.invoice.issue_date,
                due_date=line.invoice.due_date,
                counterparty=PartyOut(id=line.counterparty.id, name=line.counterparty.name),
                amount=money(line.amount_cents),
            )
            for line in view.lines
        ],
        documents_total=money(view.documents_cents),
        instructions=[
            AdviceInstructionOut(
                id=i.id,
                debtor=PartyOut(id=i.debtor.id, name=i.debtor.name),
                creditor=PartyOut(id=i.creditor.id, name=i.creditor.name),
                debtor_advice_number=_number(i.debtor_advice),
                creditor_advice_number=_number(i.creditor_advice),
                amount=money(i.amount_cents),
                status=i.status.value,
            )
            for i in view.instructions
        ],
        instructions_total=money(view.instructions_cents),
    )


@operation(
    api_bp,
    "GET",
    "/settlements/<int:settlement_id>/advices/<int:member_id>",
    responses={200: AdviceOut},
    summary="Zahlungsavis einer Stelle",
    tags=["settlements"],
)
def get_advice(settlement_id: int, member_id: int) -> AdviceOut:
    """A member's payment advice in a settlement: every invoice and credit note behind its position (numbers,
    dates, counterparties, amounts from the member's side), the due date and the instructions referring to it.
    Member finance reads its own member's advice, operator finance every one; 404 for anything else."""
    return advice_out(advice_view(advice_for(api_user(), settlement_id, member_id)))


@operation(
    api_bp,
    "POST",
    "/settlements/<int:settlement_id>/approve",
    responses={200: SettlementOut, 409: None},
    summary="Verrechnung freigeben (vier Augen)",
    tags=["settlements"],
)
def approve_settlement_api(settlement_id: int) -> SettlementOut:
    """A second operator finance user approves a draft; its creator gets 403, other states 409."""
    user = api_user()
    require_operator_finance(user, "Verrechnungen freigeben")  # the coarse gate first: no id is revealed
    settlement = approve_settlement(user, settlement_for(user, settlement_id))
    return settlement_out(settlement, user)


@operation(
    api_bp,
    "POST",
    "/settlements/<int:settlement_id>/collect",
    responses={200: CollectedSettlementOut, 409: None},
    summary="Beträge per SEPA-Lastschrift einziehen",
    tags=["settlements"],
)
def collect_settlement_api(settlement_id: int) -> CollectedSettlementOut:
    """One SEPA Direct Debit PaymentIntent through the Stripe API per debtor that pays by debit (its invoice
    profile and the documents it pays say so; each instruction's `paid_by`), from the account of its
    mandate; the states follow the webhooks. Every other debtor pays itself: its instructions stay open for
    a direct payment, and `collection.self_paying` names it. Collecting again never debits twice: debits
    under way are retried with their stored Idempotency-Key, finished ones are left alone. 409 unless
    approved (or collecting or failed, to retry), or when a debit is due and Stripe is not configured."""
    user = api_user()
    require_operator_finance(user, "Lastschriften einziehen")  # the coarse gate first: no id is revealed
    settlement = settlement_for(user, settlement_id)
    outcome = collect_settlement(user, settlement)
    collection = CollectionOut(
        submitted=outcome.submitted,
        running=outcome.running,
        failed=outcome.failed,
        unconfirmed=outcome.unconfirmed,
        self_paying=[
            SelfPayerOut(member_id=p.member_id, member_name=p.name, amount=money(p.amount_cents), reason=p.reason.value)
            for p in outcome.self_paying
        ],
        message=outcome.message(),
    )
    return CollectedSettlementOut(**settlement_out(settlement, user).model_dump(), collection=collection)


#: What the webhook reads of a Stripe event (``payments.events``): its id and type; the object in ``data``
#: only for the events it acts on. The signature covers the body as sent, so the view reads it itself.
STRIPE_EVENT_SCHEMA = {
    "type": "object",
    "description": "Ein Stripe-Ereignis (weitere Felder werden ignoriert)",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[\x21-\x7e]+$"},
        "type": {"type": "string", "maxLength": 100, "pattern": r"^[a-z0-9_.]*$"},
        "data": {"type": "object", "description": "Bei payment_intent.* und payout.paid: `object` mit dem Objekt"},
    },
}


class WebhookOut(ApiModel):
    received: bool
    duplicate: bool


@operation(
    api_bp,
    "POST",
    "/payments/stripe/webhook",
    body=RawBody("application/json", STRIPE_EVENT_SCHEMA),
    responses={200: WebhookOut, 400: None},
    summary="Stripe-Webhook",
    tags=["payments"],
    auth=False,
)
def stripe_webhook() -> WebhookOut:
    """Signed Stripe events (`Stripe-Signature`, HMAC-SHA256 over `{t}.{body}`, 300 s tolerance); each event
    is applied once, repeats answer 200 with `duplicate: true`."""
    payload = request.get_data()
    verify_signature(payload, request.headers.get("Stripe-Signature"), current_app.config.get("STRIPE_WEBHOOK_SECRET"))
    try:
        event = json.loads(payload)
    except ValueError:
        raise WebhookRejected("Der Inhalt ist kein gültiges JSON.") from None
    if not isinstance(event, dict):
        raise WebhookRejected("Der Inhalt ist kein Stripe-Ereignis.")
    applied = apply_event(event)
    return WebhookOut(received=True, duplicate=not applied)
