"""Every write of a correction case: opening (billed usage disputed or corrected, an invoice objected to), the
parties' statements, and the operator's decision.

Lock order (docs/ARCHITECTURE.md): opening locks the usage record or the invoice, then the invoice; deciding
locks the whole ledger first (it posts a reversal, a credit note's VAT and the new charge in one
transaction), then the case, then the invoice. Nobody locks these the other way round, so nobody deadlocks;
each decides on the rows as they are under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from marketplace.bookings.models import MAX_USAGE_QUANTITY, USAGE_QUANTITY_PLACES, UsageRecord, charge_key
from marketplace.bookings.operations import mark_usage_credited
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.events import CorrectionOpened, CorrectionResolved, InvoiceObjected, announce
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.money import MAX_CHARGE_CENTS, charge_cents, format_eur
from marketplace.core.timeutil import parse_period, period_of, today, utcnow
from marketplace.corrections.models import MAX_STATEMENT, CaseSource, CaseStatus, CorrectionCase
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Period, PeriodStatus, Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec, lock_whole_ledger, post_transfers
from marketplace.members.models import Role, User
from marketplace.members.permissions import require_operator_finance
from marketplace.settlement.invoicing import credit_reversals_now
from marketplace.settlement.models import DocumentType, Invoice, InvoiceLine, ReleaseStatus
from marketplace.settlement.release import lock_invoice, release_changed, return_for_release


def correction_key(case_id: int) -> str:
    """The idempotency key of a case's new charge: posting it twice is impossible."""
    return f"correction:{case_id}"


# --- reading what a case is about ---------------------------------------------------------------------


def _charge_of(record: UsageRecord) -> Transfer | None:
    return db.session.scalar(
        select(Transfer).where(Transfer.idempotency_key == charge_key(record.booking_id, record.period))
    )


def is_billed(record: UsageRecord) -> bool:
    """Whether the record's month is charged: then a dispute or correction of it is a correction case."""
    return _charge_of(record) is not None


def _invoice_listing(transfer_id: int) -> Invoice | None:
    return db.session.scalar(
        select(Invoice)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(InvoiceLine.transfer_id == transfer_id)
    )


def open_case_of_record(record_id: int) -> CorrectionCase | None:
    return db.session.scalar(
        locked(
            select(CorrectionCase).where(
                CorrectionCase.usage_record_id == record_id, CorrectionCase.status == CaseStatus.OPEN
            ),
            CorrectionCase,
        )
    )


def _statement(text: str | None, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput.field(field, "Bitte begründen Sie Ihre Angabe.")
    if len(text) > MAX_STATEMENT:
        raise InvalidInput.field(field, "Höchstens %(max)s Zeichen.", max=MAX_STATEMENT)
    return text


def _quantity(value: object, field: str = "quantity") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidInput.field(field, "Bitte die Menge als Zahl angeben, z. B. 12,5.")
    quantity = Decimal(value)
    if not quantity.is_finite() or quantity < 0 or quantity > MAX_USAGE_QUANTITY:
        raise InvalidInput.field(field, "Die Menge muss zwischen 0 und 10.000.000.000 liegen.")
    if quantity.as_tuple().exponent < -USAGE_QUANTITY_PLACES:  # type: ignore[operator]
        raise InvalidInput.field(field, "Die Menge hat höchstens drei Nachkommastellen.")
    return quantity


def _hold(invoice: Invoice | None, actor: User, reason: str) -> None:
    """A pending invoice whose charge is disputed is held (objected) until the case is decided."""
    if invoice is None:
        return
    invoice = db.session.scalar(locked(select(Invoice).where(Invoice.id == invoice.id), Invoice))
    if invoice is None or invoice.release_status is not ReleaseStatus.PENDING:
        return  # released: the case still decides, a credit note follows if it is corrected
    invoice.release_status = ReleaseStatus.OBJECTED
    invoice.objection_reason = reason[:2000]
    invoice.release_decided_at = utcnow()
    invoice.release_decided_by = actor
    db.session.flush()


def _opened(case: CorrectionCase, actor: User, statement: str) -> CorrectionCase:
    db.session.add(case)
    db.session.flush()
    record_audit(
        actor,
        "correction.opened",
        case,
        member_id=actor.member_id,
        data={
            "source": case.source.value,
            "period": case.period,
            "invoice_id": case.invoice_id,
            "usage_record_id": case.usage_record_id,
            "charge_transfer_id": case.charge_transfer_id,
            "proposed_quantity": str(case.proposed_quantity) if case.proposed_quantity is not None else None,
            "statement": statement,
        },
    )
    announce(_event(CorrectionOpened, case, actor, statement=statement))
    return case


def _event(kind, case: CorrectionCase, actor: User | None, **extra: object):
    return kind(
        correction_id=case.id,
        source=case.source.value,
        status=case.status.value,
        period=case.period,
        buyer_id=case.buyer_id,
        provider_id=case.provider_id,
        invoice_id=case.invoice_id,
        actor_id=actor.id if actor is not None else None,
        **extra,
    )


def _billed_usage(actor: User, record_id: int) -> tuple[UsageRecord, Transfer]:
    """The usage record of a booking the actor's member is party to, locked, and its charge; NotFound for
    others (before anything else is said about it), Conflict if the month is not billed or already reversed."""
    record = db.session.scalar(locked(select(UsageRecord).where(UsageRecord.id == record_id), UsageRecord))
    if record is None or not record.booking.is_party(actor):
        raise NotFound("Diesen Verbrauch gibt es nicht.")
    charge = _charge_of(record)
    if charge is None:
        raise Conflict(
            "Der Verbrauch für %(period)s ist noch nicht abgerechnet; er wird direkt bestätigt oder bestritten.",
            period=record.period,
        )
    if db.session.scalar(select(Transfer.id).where(Transfer.reverses_id == charge.id)) is not None:
        raise Conflict(
            "Die Abrechnung des Verbrauchs für %(period)s ist bereits storniert (Buchung %(transfer)s).",
            period=record.period,
            transfer=charge.id,
        )
    return record, charge


# --- opening ------------------------------------------------------------------------------------------


def dispute_billed_usage(actor: User, record_id: int, reason: str) -> CorrectionCase:
    """The buyer disputes a month's usage that is already billed: a correction case for the operator (or the
    buyer's statement on the provider's open correction of it). A pending invoice listing the charge is held
    until the case is decided.

    Raises NotFound (not a party), PermissionDenied (not the buyer's staff), InvalidInput (no reason) or
    Conflict (not billed, reversed, or the buyer already disputed it in an open case).
    """
    record, charge = _billed_usage(actor, record_id)
    booking = record.booking
    if actor.member_id != booking.buyer_id or not actor.has_role(Role.BUYER, Role.MEMBER_FINANCE):
        raise PermissionDenied("Verbrauch beanstanden nur Einkauf und Finanzabteilung der abnehmenden Stelle.")
    reason = _statement(reason)
    invoice = _invoice_listing(charge.id)
    case = open_case_of_record(record.id)
    if case is not None:
        if case.buyer_statement:
            raise Conflict("Zu diesem Verbrauch ist der Korrekturfall %(case)s bereits offen.", case=case.id)
        _state(actor, case, "buyer", reason)
        _hold(invoice, actor, reason)
        return case
    _hold(invoice, actor, reason)
    case = _usage_case(CaseSource.USAGE_DISPUTE, record, charge, invoice, actor)
    case.buyer_statement, case.buyer_stated_at = reason, utcnow()
    return _opened(case, actor, reason)


def correct_billed_usage(actor: User, record_id: int, quantity: Decimal, statement: str) -> CorrectionCase:
    """The provider corrects a month's usage that is already billed (its month may be closed): a correction
    case with the proposed quantity (or the provider's statement on the buyer's open dispute of it). A pending
    invoice listing the charge is held until the operator decides.

    Raises NotFound, PermissionDenied (not the provider's staff), InvalidInput (`quantity`, `reason`) or
    Conflict (not billed, reversed, unchanged, or already proposed in an open case).
    """
    record, charge = _billed_usage(actor, record_id)
    booking = record.booking
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter korrigiert den Verbrauch.")
    value = _quantity(quantity)
    if value == record.quantity:
        raise InvalidInput.field(
            "quantity",
            "Die Menge entspricht der abgerechneten (%(quantity)s).",
            quantity=german_quantity(record.quantity),
        )
    _check_chargeable(booking.unit_price_cents or 0, value)
    statement = _statement(statement)
    invoice = _invoice_listing(charge.id)
    case = open_case_of_record(record.id)
    if case is not None:
        if case.proposed_quantity is not None:
            raise Conflict("Zu diesem Verbrauch ist der Korrekturfall %(case)s bereits offen.", case=case.id)
        case.proposed_quantity = value
        _state(actor, case, "provider", statement)
        return case
    held = f"Korrektur des Anbieters: {german_quantity(record.quantity)} → {german_quantity(value)}. {statement}"
    _hold(invoice, actor, held)
    case = _usage_case(CaseSource.PROVIDER_CORRECTION, record, charge, invoice, actor)
    case.proposed_quantity = value
    case.provider_statement, case.provider_stated_at = statement, utcnow()
    return _opened(case, actor, statement)


def _usage_case(
    source: CaseSource, record: UsageRecord, charge: Transfer, invoice: Invoice | None, actor: User
) -> CorrectionCase:
    """A new case about a billed usage record: its booking's parties, month, charge, invoice and billed quantity."""
    booking = record.booking
    return CorrectionCase(
        source=source,
        buyer_id=booking.buyer_id,
        provider_id=booking.service.provider_id,
        period=record.period,
        booking_id=booking.id,
        usage_record_id=record.id,
        charge_transfer_id=charge.id,
        invoice_id=invoice.id if invoice is not None else None,
        billed_quantity=record.quantity,
        opened_by=actor,
    )


def object_to_invoice(actor: User, invoice_id: int, reason: str) -> CorrectionCase:
    """The buyer's finance staff object to a whole invoice instead of releasing it: the invoice is objected
    (not settled) and a correction case decides.

    Raises PermissionDenied (not the buyer's finance staff), NotFound (another member's invoice),
    InvalidInput (no reason) or Conflict (credit note, already released or objected).
    """
    invoice = lock_invoice(actor, invoice_id)
    reason = _statement(reason)
    if invoice.release_status is ReleaseStatus.RELEASED:
        raise Conflict("Die Rechnung %(number)s ist bereits freigegeben.", number=invoice.number)
    if invoice.release_status is ReleaseStatus.OBJECTED:
        raise Conflict("Die Rechnung %(number)s ist bereits beanstandet.", number=invoice.number)
    invoice.release_status = ReleaseStatus.OBJECTED
    invoice.objection_reason = reason
    invoice.release_decided_at = utcnow()
    invoice.release_decided_by = actor
    db.session.flush()
    case = CorrectionCase(
        source=CaseSource.OBJECTION,
        buyer_id=invoice.buyer_id,
        provider_id=invoice.provider_id,
        period=invoice.period,
        invoice_id=invoice.id,
        buyer_statement=reason,
        buyer_stated_at=utcnow(),
        opened_by=actor,
    )
    _opened(case, actor, reason)
    record_audit(
        actor,
        "invoice.objected",
        invoice,
        member_id=invoice.buyer_id,
        data={"number": invoice.number, "reason": reason, "correction_id": case.id},
    )
    announce(release_changed(InvoiceObjected, invoice, actor, reason=reason, correction_id=case.id))
    return case


# --- statements ---------------------------------------------------------------------------------------


def _state(actor: User, case: CorrectionCase, side: str, text: str) -> None:
    before = getattr(case, f"{side}_statement")
    setattr(case, f"{side}_statement", text)
    setattr(case, f"{side}_stated_at", utcnow())
    db.session.flush()
    record_audit(
        actor,
        "correction.statement",
        case,
        member_id=actor.member_id,
        data={"side": side, "before": before, "after": text},
    )


def add_statement(actor: User, case_id: int, text: str) -> CorrectionCase:
    """A party gives (or changes) its statement on an open case.

    Raises NotFound (not a party), Conflict (decided) or InvalidInput (`statement`)."""
    case = db.session.scalar(locked(select(CorrectionCase).where(CorrectionCase.id == case_id), CorrectionCase))
    if case is None or not case.can_view(actor) or case.side_of(actor) is None:
        raise NotFound("Diesen Korrekturfall gibt es nicht.")
    if not case.is_open:
        raise Conflict("Der Korrekturfall %(case)s ist bereits entschieden.", case=case.id)
    _state(actor, case, case.side_of(actor) or "", _statement(text, "statement"))
    return case


# --- deciding -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The operator's decision: ``corrected`` (with the usage `quantity`, or for an objection the invoice's
    corrected net `amount_cents`) or ``rejected``, and a note both parties read."""

    decision: str
    note: str
    quantity: Decimal | None = None
    amount_cents: int | None = None


def correction_month(period: str) -> str:
    """The month a correction of `period` goes into: `period` itself while it is open, else the first open
    month after the latest closed one. Read under the ledger lock, so no close commits in between."""
    latest_closed = db.session.scalar(
        select(Period.period)
        .where(Period.status == PeriodStatus.CLOSED)
        .order_by(Period.period.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    month = period
    if latest_closed is not None and latest_closed >= month:
        month = _next_month(latest_closed)
    return min(month, period_of(today()))  # `into_open_month` keeps the current month as the last resort


def _next_month(period: str) -> str:
    first = parse_period(period)
    return f"{first.year + first.month // 12:04d}-{first.month % 12 + 1:02d}"


def german_quantity(quantity: Decimal | int | None) -> str:
    if quantity is None:
        return "–"
    text = f"{Decimal(quantity).normalize():,f}"  # an int too: invoice lines without a quantity show 1
    return text.replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")


def _check_chargeable(unit_price_cents: int, quantity: Decimal) -> None:
    if charge_cents(unit_price_cents, quantity) > MAX_CHARGE_CENTS:
        raise InvalidInput.field(
            "quantity",
            "Menge mal Preis je Einheit ergibt mehr als %(max_charge_cents)s für einen Monat; bitte die Menge prüfen.",
            max_charge_cents=format_eur(MAX_CHARGE_CENTS),
        )


def _reversal_spec(charge: Transfer, month: str, case: CorrectionCase) -> TransferSpec:
    return TransferSpec(
        idempotency_key=f"reversal:{charge.id}",
        kind=TransferKind.REVERSAL,
        period=month,
        into_open_month=True,
        description=f"Storno von Buchung {charge.id}: Korrekturfall {case.id}"[:500],
        postings=tuple((p.account_id, -p.amount_cents) for p in charge.postings),
        booking_id=charge.booking_id,
        reverses_id=charge.id,
    )


def _clearing(member_id: int) -> int:
    account = db.session.scalar(
        select(Account.id).where(Account.member_id == member_id, Account.kind == AccountKind.CLEARING)
    )
    if account is None:
        raise NotFound("Das Mitglied %(member)s hat kein Verrechnungskonto.", member=member_id)
    return account


def _recharge_spec(case: CorrectionCase, cents: int, month: str, booking_id: int | None, what: str) -> TransferSpec:
    reference = (
        f"Korrektur zu Rechnung {case.invoice.number} ({case.period})"
        if case.invoice is not None
        else f"Korrektur der Abrechnung {case.period}"
    )
    return TransferSpec(
        idempotency_key=correction_key(case.id),
        kind=TransferKind.CHARGE,
        period=month,
        into_open_month=True,
        description=f"{reference}, Korrekturfall {case.id}: {what}"[:500],
        postings=((_clearing(case.buyer_id), -cents), (_clearing(case.provider_id), cents)),
        booking_id=booking_id,
    )


def _charges_to_correct(case: CorrectionCase) -> list[Transfer]:
    """The charges a correction reverses: the usage's charge, or every line of the objected invoice."""
    if case.source is not CaseSource.OBJECTION:
        charge = db.session.get(Transfer, case.charge_transfer_id)
        return [charge] if charge is not None else []
    invoice = case.invoice
    if invoice is None or invoice.type_code is not DocumentType.INVOICE:
        return []
    charges = [db.session.get(Transfer, line.transfer_id) for line in invoice.lines]
    if any(c is None or c.kind is not TransferKind.CHARGE or c.booking_id is None for c in charges):
        raise Conflict(
            "Die Rechnung %(number)s enthält Positionen der Kostenumlage; sie wird dort korrigiert, der "
            "Korrekturfall kann nur zurückgewiesen werden.",
            number=invoice.number,
        )
    return [c for c in charges if c is not None]


def _corrected(case: CorrectionCase, decision: Decision) -> tuple[int, str, int | None, str]:
    """Checks the decision's figure; returns (new net cents, what the new charge is, its booking, audit text)."""
    if case.source is CaseSource.OBJECTION:
        if decision.amount_cents is None:
            raise InvalidInput.field("amount", "Bitte den berichtigten Nettobetrag der Rechnung angeben.")
        cents = decision.amount_cents
        if cents < 0 or cents > MAX_CHARGE_CENTS:
            raise InvalidInput.field(
                "amount", "Der Betrag muss zwischen 0 und %(max)s liegen.", max=format_eur(MAX_CHARGE_CENTS)
            )
        invoice = case.invoice
        if invoice is not None and cents == invoice.net_cents:
            raise InvalidInput.field(
                "amount",
                "Der Betrag entspricht der Rechnung (%(amount)s); dann bitte zurückweisen.",
                amount=format_eur(cents),
            )
        first_booking = invoice.lines[0].booking_id if invoice is not None and invoice.lines else None
        return cents, f"berichtigter Betrag der Leistungen {case.period}", first_booking, format_eur(cents)
    quantity = decision.quantity if decision.quantity is not None else case.proposed_quantity
    if quantity is None:
        raise InvalidInput.field("quantity", "Bitte die berichtigte Menge angeben.")
    quantity = _quantity(quantity)
    if quantity == case.billed_quantity:
        raise InvalidInput.field(
            "quantity",
            "Die Menge entspricht der abgerechneten (%(quantity)s); dann bitte zurückweisen.",
            quantity=german_quantity(quantity),
        )
    booking = case.booking
    price = (booking.unit_price_cents or 0) if booking is not None else 0
    _check_chargeable(price, quantity)
    case.corrected_quantity = quantity
    title = booking.service.title if booking is not None else ""
    what = (
        f"{title}, berichtigter Verbrauch {german_quantity(quantity)} (bisher {german_quantity(case.billed_quantity)})"
    )
    return charge_cents(price, quantity), what, case.booking_id, german_quantity(quantity)


def resolve_case(actor: User, case_id: int, decision: Decision) -> CorrectionCase:
    """Decide an open case. ``corrected``: the disputed charge (an objection: every charge of the invoice) is
    reversed into the next open month, its credit note is issued at once when an invoice lists it, and the
    corrected amount is charged in that month (key ``correction:<case id>``, naming the original invoice),
    to be invoiced at that month's close. ``rejected``: the charge stands. Either way a held invoice goes back
    to the buyer for release with the operator's note (once no other open case holds it).

    Raises PermissionDenied (not operator finance), NotFound, InvalidInput (`decision`, `note`, `quantity`,
    `amount`) or Conflict (already decided: a second decision creates nothing).
    """
    require_operator_finance(actor, "Korrekturfälle entscheiden")
    if decision.decision not in (CaseStatus.CORRECTED.value, CaseStatus.REJECTED.value):
        raise InvalidInput.field("decision", "Bitte „corrected“ (berichtigen) oder „rejected“ (zurückweisen) wählen.")
    note = _statement(decision.note, "note")
    lock_whole_ledger()  # a reversal, a credit note's VAT and the new charge: several postings in one transaction
    case = db.session.scalar(locked(select(CorrectionCase).where(CorrectionCase.id == case_id), CorrectionCase))
    if case is None:
        raise NotFound("Diesen Korrekturfall gibt es nicht.")
    if not case.is_open:
        raise Conflict(
            "Der Korrekturfall %(case)s ist bereits entschieden (%(status)s).", case=case.id, status=case.status.value
        )
    audit: dict[str, object] = {"decision": decision.decision, "note": note}
    if case.invoice_id is None and case.charge_transfer_id is not None:
        # the charge's month was closed after the case was opened: the invoice now lists it
        listing = _invoice_listing(case.charge_transfer_id)
        case.invoice = listing
    if decision.decision == CaseStatus.CORRECTED.value:
        charges = _charges_to_correct(case)
        reversed_ = db.session.scalar(
            select(Transfer.reverses_id).where(Transfer.reverses_id.in_([c.id for c in charges])).limit(1)
        )
        if reversed_ is not None:
            raise Conflict(
                "Die Belastung %(transfer)s ist bereits storniert (durch einen anderen Fall oder von Hand); "
                "bitte den Fall zurückweisen und den Vermerk darauf verweisen.",
                transfer=reversed_,
            )
        cents, what, booking_id, figure = _corrected(case, decision)
        month = correction_month(case.period)
        specs = [_reversal_spec(charge, month, case) for charge in charges]
        if cents > 0:
            specs.append(_recharge_spec(case, cents, month, booking_id, what))
        post_transfers(specs, actor)
        for charge in charges:
            mark_usage_credited(charge.id)  # the usage record a reversed charge billed is credited
        reversal_ids = list(
            db.session.scalars(select(Transfer.id).where(Transfer.reverses_id.in_([c.id for c in charges])))
        )
        notes = credit_reversals_now(actor, reversal_ids, correction_key(case.id))
        recharge = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == correction_key(case.id)))
        case.corrected_cents = cents
        case.credit_note = notes[0] if notes else None
        case.recharge_transfer_id = recharge.id if recharge is not None else None
        audit.update(
            {
                "figure": figure,
                "corrected_cents": cents,
                "reversals": reversal_ids,
                "credit_notes": [n.number for n in notes],
                "recharge": case.recharge_transfer_id,
                "month": recharge.period if recharge is not None else month,
            }
        )
        case.status = CaseStatus.CORRECTED
    else:
        case.status = CaseStatus.REJECTED
    case.decision_note = note
    case.decided_by = actor
    case.decided_at = utcnow()
    db.session.flush()
    returned = _return_invoice(case)
    audit["invoice_returned"] = returned
    record_audit(actor, "correction.resolved", case, data=audit)
    announce(
        _event(
            CorrectionResolved,
            case,
            actor,
            note=note,
            credit_note_id=case.credit_note_id,
            charge_transfer_id=case.recharge_transfer_id,
        )
    )
    return case


def _return_invoice(case: CorrectionCase) -> bool:
    """The held invoice back to the buyer for release, once no other open case holds it."""
    if case.invoice_id is None:
        return False
    invoice = db.session.scalar(locked(select(Invoice).where(Invoice.id == case.invoice_id), Invoice))
    if invoice is None or invoice.release_status is not ReleaseStatus.OBJECTED:
        return False
    others = db.session.scalar(
        select(CorrectionCase.id).where(
            CorrectionCase.invoice_id == invoice.id,
            CorrectionCase.status == CaseStatus.OPEN,
            CorrectionCase.id != case.id,
        )
    )
    if others is not None:
        return False
    return_for_release(invoice)
    return True
