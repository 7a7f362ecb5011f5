"""The bookings of one member's books in one calendar month, built from what the member has on paper:

- **documents** (invoices 380, credit notes 381) on the date they were issued: the provider books the gross
  amount on the buyer's debtor account against revenue, the buyer on the provider's creditor account against
  expense; a taxable document carries the BU key of its rate, so DATEV splits out output or input VAT;
  Belegfeld 1 is the document number;
- **settlements**: every document of the member's payment advice moves from the counterparty's personal
  account to the exchange's clearing account (Belegfeld 1 = advice number), and each payment or payout of
  the settlement is booked between that clearing account and the bank, so each personal account clears per
  counterparty although netting pays someone else. A member's advice is booked on the day of its first
  payment in the settlement (a member whose documents net to nothing: the day the settlement was paid);
- **the operator's bank movements**: SEPA debits collected into the payment provider's balance, its payouts
  to the bank, and payouts to creditors, each against the money held for the members.

Dates of ledger movements are their Berlin date, kept inside the ledger month they were posted in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from marketplace.catalogue.models import VatCategory
from marketplace.core.timeutil import month_bounds, parse_period
from marketplace.extensions import db
from marketplace.ledger.exports import local_date
from marketplace.ledger.models import Account, AccountKind, Posting, Transfer, TransferKind
from marketplace.members.models import Member
from marketplace.monthend.datev.accounts import INPUT_VAT_KEYS, OUTPUT_VAT_KEYS, Books, vat_key
from marketplace.payments.models import Debit
from marketplace.settlement import queries as settlement_queries
from marketplace.settlement.advices import advice_number
from marketplace.settlement.models import Invoice, PaymentInstruction, Settlement, SettlementStatus

#: Ledger movements that pay a settlement (and their reversals).
PAYMENT_KINDS = (TransferKind.PAYMENT, TransferKind.PAYOUT)


@dataclass(frozen=True)
class Booking:
    """One DATEV row: `cents` (positive) on `account`, debit (Soll) or credit (Haben), against `contra`."""

    day: date
    cents: int
    debit: bool
    account: str
    contra: str
    reference: str  # Belegfeld 1
    text: str  # Buchungstext
    bu_key: str = ""
    service_date: date | None = None  # Leistungsdatum
    document: str = ""  # the document an advice row clears (Beleginfo)


def transfer_day(transfer: Transfer) -> date:
    """The Berlin date of a ledger movement, inside the ledger month it was posted in."""
    first, last = month_bounds(parse_period(transfer.period))
    return min(max(local_date(transfer.created_at), first), last)


# --- documents ----------------------------------------------------------------------------------------------


def document_bookings(member: Member, books: Books, first: date, last: date) -> list[Booking]:
    """The member's invoices and credit notes issued between `first` and `last`, as provider and as buyer."""
    documents = db.session.scalars(
        select(Invoice)
        .where(
            or_(Invoice.provider_id == member.id, Invoice.buyer_id == member.id),
            Invoice.issue_date >= first,
            Invoice.issue_date <= last,
        )
        .order_by(Invoice.issue_date, Invoice.id)
    ).all()
    return [_document_booking(member, books, document) for document in documents]


def _document_booking(member: Member, books: Books, document: Invoice) -> Booking:
    provided = document.provider_id == member.id
    taxable = document.vat_category is VatCategory.STANDARD
    label = "Gutschrift" if document.is_credit_note else "Rechnung"
    if provided:
        # an invoice is a claim on the buyer (Soll), a credit note reduces it
        account, contra = books.debtor(document.buyer_id), books.revenue(document.vat_category)
        debit = not document.is_credit_note
        key = vat_key(document.vat_rate, OUTPUT_VAT_KEYS) if taxable else ""
        other = document.buyer.name
    else:
        # an invoice is a debt to the provider (Haben), a credit note reduces it
        account, contra = books.creditor(document.provider_id), books.expense(document.vat_category)
        debit = document.is_credit_note
        key = vat_key(document.vat_rate, INPUT_VAT_KEYS) if taxable else ""
        other = document.provider.name
    return Booking(
        day=document.issue_date,
        cents=document.gross_cents,
        debit=debit,
        account=account,
        contra=contra,
        reference=document.number,
        text=f"{label} {document.number} {other}",
        bu_key=key,
        service_date=document.service_end,
    )


# --- settlements --------------------------------------------------------------------------------------------


def advice_documents(settlement: Settlement, member_id: int) -> list[tuple[Invoice, int]]:
    """The documents on the member's payment advice of the settlement, each with its amount from the
    member's side (+ it receives, - it pays).

    Stored advices (`settlement.queries.advice_documents`, being built beside this) are used as soon as
    they exist; until then the documents of the months the settlement covers (after the previous
    settlement's month, up to its own), which is what its positions net today."""
    stored = getattr(settlement_queries, "advice_documents", None)
    if stored is not None:
        return [(line.invoice, line.amount_cents) for line in stored(settlement, member_id)]
    previous = db.session.scalar(
        select(Settlement.period).where(Settlement.period < settlement.period).order_by(Settlement.period.desc())
    )
    statement = select(Invoice).where(
        or_(Invoice.provider_id == member_id, Invoice.buyer_id == member_id), Invoice.period <= settlement.period
    )
    if previous is not None:
        statement = statement.where(Invoice.period > previous)
    out = []
    for document in db.session.scalars(statement.order_by(Invoice.issue_date, Invoice.id)):
        receives = (document.provider_id == member_id) != document.is_credit_note
        out.append((document, document.gross_cents if receives else -document.gross_cents))
    return out


def _advice_booking(books: Books, member_id: int, document: Invoice, amount: int, number: str, day: date) -> Booking:
    """Moves one document of the advice from the personal account to the exchange's clearing account: the
    opposite of the document's own booking there, for what the advice settles of it."""
    if document.provider_id == member_id:
        account = books.debtor(document.buyer_id)
    else:
        account = books.creditor(document.provider_id)
    return Booking(
        day=day,
        cents=abs(amount),
        debit=amount < 0,  # what the member receives leaves the personal account on the Haben side
        account=account,
        contra=books.accounts["clearing"],
        reference=number,
        text=f"Zahlungsavis {number} zu {document.number}",
        document=document.number,
    )


def _settlement_of(transfer: Transfer) -> int | None:
    """The settlement a payment movement pays, from the cause in its idempotency key."""
    kind, _, rest = transfer.idempotency_key.partition(":")
    if kind == "direct":
        instruction = db.session.get(PaymentInstruction, int(rest))
        return instruction.settlement_id if instruction else None
    if kind == "payout":
        return int(rest.split(":")[0])
    if kind == "payment":
        return db.session.scalar(select(Debit.settlement_id).where(Debit.transfer_id == transfer.id))
    return None


@dataclass(frozen=True)
class _Movement:
    transfer: Transfer
    settlement_id: int
    day: date
    #: clearing postings of the movement: member id -> cents (what the member's clearing account gained)
    clearing: dict[int, int]


def _payment_movements(settlement_ids: Iterable[int] | None, period: str | None) -> list[_Movement]:
    """Payment movements (payments, payouts, their reversals) of the given settlements or ledger month."""
    original = aliased(Transfer)
    statement = (
        select(Transfer)
        .outerjoin(original, original.id == Transfer.reverses_id)
        .where(
            or_(
                Transfer.kind.in_(PAYMENT_KINDS),
                (Transfer.kind == TransferKind.REVERSAL) & original.kind.in_(PAYMENT_KINDS),
            )
        )
        .order_by(Transfer.id)
    )
    if period is not None:
        statement = statement.where(Transfer.period == period)
    movements = []
    for transfer in db.session.scalars(statement):
        cause = db.session.get(Transfer, transfer.reverses_id) if transfer.reverses_id else transfer
        settlement_id = _settlement_of(cause)
        if settlement_id is None or (settlement_ids is not None and settlement_id not in settlement_ids):
            continue
        clearing: dict[int, int] = defaultdict(int)
        for member_id, cents in db.session.execute(
            select(Account.member_id, Posting.amount_cents)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.transfer_id == transfer.id, Account.kind == AccountKind.CLEARING)
        ):
            clearing[member_id] += cents
        movements.append(_Movement(transfer, settlement_id, transfer_day(transfer), dict(clearing)))
    return movements


def _netted_to_nothing(first: date, last: date) -> set[int]:
    """Settlements paid in these days without any payment: their documents cancelled out."""
    paid = db.session.scalars(
        select(Settlement).where(
            Settlement.status == SettlementStatus.PAID,
            ~select(PaymentInstruction.id).where(PaymentInstruction.settlement_id == Settlement.id).exists(),
        )
    )
    return {s.id for s in paid if s.paid_at is not None and first <= local_date(s.paid_at) <= last}


def settlement_bookings(member: Member, books: Books, first: date, last: date) -> list[Booking]:
    """The member's payment advices and payments whose day lies between `first` and `last`."""
    period = f"{first:%Y-%m}"
    in_month = {m.settlement_id for m in _payment_movements(None, period)} | _netted_to_nothing(first, last)
    if not in_month:
        return []
    movements = _payment_movements(in_month, None)
    out: list[Booking] = []
    for settlement in db.session.scalars(
        select(Settlement).where(Settlement.id.in_(in_month)).order_by(Settlement.period)
    ):
        own = [m for m in movements if m.settlement_id == settlement.id]
        mine = [m for m in own if m.clearing.get(member.id)]
        number = advice_number(settlement.period, member.id)
        if mine:
            advice_day: date | None = mine[0].day
        elif settlement.status is SettlementStatus.PAID and own:
            advice_day = own[-1].day
        elif settlement.status is SettlementStatus.PAID and settlement.paid_at is not None:
            advice_day = local_date(settlement.paid_at)  # nobody had to pay anything
        else:
            advice_day = None
        if advice_day is not None and first <= advice_day <= last:
            out.extend(
                _advice_booking(books, member.id, document, amount, number, advice_day)
                for document, amount in advice_documents(settlement, member.id)
                if amount
            )
        for movement in mine:
            if not first <= movement.day <= last:
                continue
            cents = movement.clearing[member.id]
            paid = cents > 0  # the member's clearing gained: it paid what it owed
            out.append(
                Booking(
                    day=movement.day,
                    cents=abs(cents),
                    debit=paid,
                    account=books.accounts["clearing"],
                    contra=books.accounts["bank"],
                    reference=number,
                    text=f"{'Zahlung' if paid else 'Eingang'} Zahlungsavis {number}",
                )
            )
    return out


# --- the operator's bank movements ----------------------------------------------------------------------------


def bank_bookings(operator: Member, books: Books, first: date, last: date) -> list[Booking]:
    """Every movement of the operator's bank and in-transit accounts in the ledger month of `first`."""
    period = f"{first:%Y-%m}"
    own = dict(
        db.session.execute(
            select(Account.id, Account.kind).where(
                Account.member_id == operator.id, Account.kind.in_([AccountKind.BANK, AccountKind.IN_TRANSIT])
            )
        ).all()
    )
    if not own:
        return []
    transfers = db.session.scalars(
        select(Transfer)
        .join(Posting, Posting.transfer_id == Transfer.id)
        .where(Posting.account_id.in_(list(own)), Transfer.period == period)
        .distinct()
        .order_by(Transfer.id)
    ).all()
    role = {AccountKind.BANK: "bank", AccountKind.IN_TRANSIT: "in_transit"}
    out = []
    for transfer in transfers:
        postings = db.session.execute(
            select(Posting.account_id, Posting.amount_cents, Account.member_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.transfer_id == transfer.id)
            .order_by(Posting.id)
        ).all()
        mine = {own[account_id]: cents for account_id, cents, _member in postings if account_id in own}
        others = [member_id for account_id, _cents, member_id in postings if account_id not in own]
        day = transfer_day(transfer)
        if not first <= day <= last:
            continue
        if len(mine) == 2:  # between the in-transit balance and the bank (e.g. the provider's payout)
            cents = mine[AccountKind.BANK]
            account, contra = books.accounts["bank"], books.accounts["in_transit"]
            reference = transfer.idempotency_key.partition(":")[2] or f"LB{transfer.id}"
        else:
            [(kind, cents)] = mine.items()
            account, contra = books.accounts[role[kind]], books.accounts["passthrough"]
            cause = db.session.get(Transfer, transfer.reverses_id) if transfer.reverses_id else transfer
            settlement_id = _settlement_of(cause)
            settlement = db.session.get(Settlement, settlement_id) if settlement_id else None
            reference = advice_number(settlement.period, others[0]) if settlement and others else f"LB{transfer.id}"
        # a negative posting on the operator's money accounts is money that arrived (see ledger.models)
        out.append(
            Booking(
                day=day,
                cents=abs(cents),
                debit=cents < 0,
                account=account,
                contra=contra,
                reference=reference,
                text=transfer.description,
            )
        )
    return out
