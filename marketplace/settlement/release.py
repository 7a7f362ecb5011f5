"""The buyer's release of an invoice ("sachlich und rechnerisch richtig") and the reminders when it is late.

A municipal cash office pays only what its own finance staff certified. Each invoice to a member waits for
that member's finance staff: they release it (one by one, or all pending invoices of a month they looked
at) or object to it (`marketplace.corrections`, which opens a correction case and holds the invoice until
the case is decided). Credit notes need no release. The deadline is the invoice's `release_due` (issue date
+ ``RELEASE_DAYS``); `remind_overdue_releases` (``flask invoices remind-releases``, daily) reminds the
buyer's finance staff of each overdue invoice once per run.

Writes lock the invoice rows (ascending id) and decide on what they read under that lock.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, and_, select

from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.events import InvoiceReleaseChanged, InvoiceReleased, InvoiceReleaseOverdue, announce
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import parse_period, today, utcnow
from marketplace.extensions import db
from marketplace.members.models import Role, User
from marketplace.settlement.invoicing import release_days
from marketplace.settlement.models import DocumentType, Invoice, ReleaseStatus

#: Invoices one "release the month" may carry (a member receives a handful per month).
MAX_RELEASE_BATCH = 500


def require_member_finance(actor: User) -> None:
    """The coarse gate of release and objection: only a member's finance staff (403 otherwise)."""
    if Role.MEMBER_FINANCE not in actor.roles:
        raise PermissionDenied("Rechnungen gibt nur die Finanzabteilung der Rechnungsempfängerin frei.")


def lock_invoice(actor: User, invoice_id: int) -> Invoice:
    """The invoice addressed to the actor's member, locked and read afresh: NotFound for another member's
    invoice (its existence is not revealed), PermissionDenied for the provider's side, Conflict for a credit
    note (it needs no release)."""
    require_member_finance(actor)
    invoice = db.session.scalar(locked(select(Invoice).where(Invoice.id == invoice_id), Invoice))
    if invoice is None or actor.member_id not in (invoice.buyer_id, invoice.provider_id):
        raise NotFound("Diese Rechnung gibt es nicht.")
    if invoice.buyer_id != actor.member_id:
        raise PermissionDenied("Freigeben oder beanstanden kann nur die Finanzabteilung der Rechnungsempfängerin.")
    if invoice.type_code is DocumentType.CREDIT_NOTE:
        raise Conflict("Die Gutschrift %(number)s braucht keine Freigabe.", number=invoice.number)
    return invoice


def _require_pending(invoice: Invoice) -> None:
    if invoice.release_status is ReleaseStatus.RELEASED:
        raise Conflict("Die Rechnung %(number)s ist bereits freigegeben.", number=invoice.number)
    if invoice.release_status is ReleaseStatus.OBJECTED:
        raise Conflict(
            "Die Rechnung %(number)s ist beanstandet; sie kann erst nach der Entscheidung über den Korrekturfall "
            "freigegeben werden.",
            number=invoice.number,
        )


def release_changed(kind: type[InvoiceReleaseChanged], invoice: Invoice, actor: User | None, **extra: object):
    """The event of a release decision, with the invoice as it is now (flushed)."""
    return kind(
        invoice_id=invoice.id,
        number=invoice.number,
        period=invoice.period,
        provider_id=invoice.provider_id,
        buyer_id=invoice.buyer_id,
        gross_cents=invoice.gross_cents,
        release_status=invoice.release_status.value,
        actor_id=actor.id if actor is not None else None,
        **extra,
    )


def _release(actor: User, invoice: Invoice) -> None:
    _require_pending(invoice)
    invoice.release_status = ReleaseStatus.RELEASED
    invoice.release_decided_at = utcnow()
    invoice.release_decided_by = actor
    db.session.flush()
    record_audit(
        actor,
        "invoice.released",
        invoice,
        member_id=invoice.buyer_id,
        data={"number": invoice.number, "gross": invoice.gross_cents, "due": _iso(invoice.release_due)},
    )
    announce(release_changed(InvoiceReleased, invoice, actor))


def release_invoice(actor: User, invoice_id: int) -> Invoice:
    """Certify one invoice "sachlich und rechnerisch richtig" (name and time are kept).

    Raises PermissionDenied (not the buyer's finance staff), NotFound (another member's invoice) or
    Conflict (credit note, already released, objected).
    """
    invoice = lock_invoice(actor, invoice_id)
    _release(actor, invoice)
    return invoice


def release_invoices(actor: User, period: str, invoice_ids: list[int]) -> list[Invoice]:
    """Release the pending invoices of `period` that the person looked at (`invoice_ids`, as listed to them),
    all or none. An invoice issued or changed since they looked is not released blindly: the ids must be
    exactly the month's pending invoices now, else Conflict (and nothing is released).
    """
    require_member_finance(actor)
    try:
        parse_period(period or "")
    except ValueError:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11.") from None
    wanted = sorted(set(invoice_ids))
    if not wanted:
        raise InvalidInput.field("invoice_ids", "Bitte die geprüften Rechnungen angeben.")
    if len(wanted) > MAX_RELEASE_BATCH:
        raise InvalidInput.field(
            "invoice_ids", "Höchstens %(max)s Rechnungen auf einmal freigeben.", max=MAX_RELEASE_BATCH
        )
    rows = list(
        db.session.scalars(
            locked(
                select(Invoice)
                .where(
                    Invoice.buyer_id == actor.member_id,
                    Invoice.period == period,
                    Invoice.type_code == DocumentType.INVOICE,
                    Invoice.release_status == ReleaseStatus.PENDING,
                )
                .order_by(Invoice.id),
                Invoice,
            )
        )
    )
    pending = [invoice.id for invoice in rows]
    if pending != wanted:
        unknown = sorted(set(wanted) - set(pending))
        if unknown:
            raise Conflict(
                "Die Rechnungen %(ids)s gehören nicht zu den offenen Freigaben des Monats %(period)s; bitte die "
                "Liste neu laden.",
                ids=", ".join(map(str, unknown)),
                period=period,
            )
        raise Conflict(
            "Seit dem Laden der Liste ist eine weitere Rechnung für %(period)s eingegangen; bitte die Liste neu "
            "laden und prüfen.",
            period=period,
        )
    for invoice in rows:
        _release(actor, invoice)
    return rows


def return_for_release(invoice: Invoice) -> None:
    """An objected invoice whose correction cases are all decided goes back to the buyer: pending, with a
    fresh deadline. The caller holds the invoice's lock and audits the decision."""
    invoice.release_status = ReleaseStatus.PENDING
    invoice.release_decided_at = None
    invoice.release_decided_by = None
    invoice.release_reminded_at = None
    invoice.release_due = max(invoice.release_due or today(), today() + timedelta(days=release_days()))
    db.session.flush()


def overdue_clause(day: date | None = None) -> ColumnElement[bool]:
    """Invoices still pending after their release deadline `release_due` (the day after it, `day` or today)."""
    return and_(
        Invoice.type_code == DocumentType.INVOICE,
        Invoice.release_status == ReleaseStatus.PENDING,
        Invoice.release_due.is_not(None),
        Invoice.release_due < (day or today()),
    )


def overdue_statement(day: date | None = None) -> Select:
    """Invoices still pending after their release deadline, the longest overdue first."""
    return select(Invoice).where(overdue_clause(day)).order_by(Invoice.release_due, Invoice.id)


def remind_overdue_releases(actor: User | None, day: date | None = None) -> list[Invoice]:
    """Remind the buyer's finance staff of every invoice still pending after its deadline: one reminder per
    invoice and run (the notifications e-mail the finance staff; run it daily), each audited with the time
    kept in `release_reminded_at`. Returns the invoices reminded now."""
    day = day or today()
    now = utcnow()
    # skip_locked: an invoice being released or objected to right now is not reminded of
    reminded = list(db.session.scalars(locked(overdue_statement(day), Invoice, skip_locked=True)))
    for invoice in reminded:
        invoice.release_reminded_at = now
    db.session.flush()
    for invoice in reminded:
        record_audit(
            actor,
            "invoice.release_reminded",
            invoice,
            member_id=invoice.buyer_id,
            data={"number": invoice.number, "due": _iso(invoice.release_due), "days_overdue": _late(invoice, day)},
        )
        announce(release_changed(InvoiceReleaseOverdue, invoice, actor, due=invoice.release_due))
    return reminded


def _late(invoice: Invoice, day: date) -> int:
    return (day - invoice.release_due).days if invoice.release_due else 0


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
