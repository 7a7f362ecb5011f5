"""Collecting a settlement through the operator: one SEPA Direct Debit PaymentIntent per debtor that pays by
debit.

Only a debtor whose invoice profile and documents say debit (`settlement.paying.debtor_ways`) is debited,
from the account of its mandate; every other debtor pays itself (transfer or clearing), its instructions stay
open until operator finance books them as paid directly, and the outcome names it. A PaymentIntent's
description is the remittance text of the debtor's advice (advice number, then its documents' numbers).

Two steps with a commit between them, because an external side effect needs a durable intent first:
`prepare_collection` writes each debit with its Idempotency-Key (the caller commits), then
`submit_debits` asks Stripe, sending that stored key on every try. If anything dies in between, the next
collect finds the debit still pending and sends the same key again: Stripe answers with the PaymentIntent
it already made, so a debtor is never charged twice. Debits that are processing or succeeded are never
sent again; a failed one (Stripe declined it, or the webhook said so) reopens its instructions, and the
next collect makes a new attempt with a new key.

Customers: each member has one Stripe customer, addressed to its finance contact (a member-finance user,
else the member's contact address) and brought up to date on every collect. A customer that Stripe no
longer knows (deleted there: "No such customer") is made anew with a key naming the lost one, its payment
method attached and the stored row repaired; a debit refused for that reason is sent once more under a key
of its own (see `_create_intent`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.core.errors import Conflict
from marketplace.core.events import PaymentFailed, announce
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.invoice_profiles import invoice_profile_of
from marketplace.members.models import Member
from marketplace.members.permissions import require_operator_finance
from marketplace.members.queries import finance_contact_email
from marketplace.payments.models import Debit, DebitStatus, StripeCustomer, debit_event
from marketplace.payments.stripe_client import CardError, InvalidRequestError, StripeClient, StripeError, is_missing
from marketplace.settlement.advices import advice_number, lines_for
from marketplace.settlement.models import InstructionStatus, Settlement, SettlementStatus
from marketplace.settlement.operations import lock_settlement, move_settlement
from marketplace.settlement.paying import SelfPayReason, debtor_ways
from marketplace.settlement.sepa import advice_remittance

if TYPE_CHECKING:
    from marketplace.members.models import User

log = logging.getLogger(__name__)

#: Debits that are under way or done: never a second one for the same debtor while one of these exists.
ACTIVE = (DebitStatus.PENDING, DebitStatus.PROCESSING, DebitStatus.SUCCEEDED)


@dataclass(frozen=True)
class SelfPayer:
    """A debtor the collection leaves to pay itself, with what is open and why it is not debited."""

    member_id: int
    name: str
    amount_cents: int
    reason: SelfPayReason


@dataclass
class CollectionPlan:
    """What `prepare_collection` decided: the debits to send, and who pays itself."""

    debits: list[Debit] = field(default_factory=list)
    #: debits already accepted by Stripe, left alone (their outcome arrives by webhook)
    running: int = 0
    self_paying: list[SelfPayer] = field(default_factory=list)


@dataclass
class CollectionOutcome:
    submitted: int = 0
    failed: int = 0
    unconfirmed: int = 0
    running: int = 0
    self_paying: list[SelfPayer] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unconfirmed

    def message(self) -> str:
        """What the collect did, in one line: ``2 Lastschriften an Stripe übergeben; 1 Stelle zahlt selbst per
        Überweisung (Landkreis Darmstadt-Dieburg).``"""
        parts = []
        sent = self.submitted or self.failed or self.unconfirmed
        if sent or not (self.running or self.self_paying):
            parts.append(
                ngettext(
                    "%(num)d Lastschrift an Stripe übergeben",
                    "%(num)d Lastschriften an Stripe übergeben",
                    self.submitted,
                )
            )
        if self.running:
            parts.append(
                ngettext("%(num)d Lastschrift läuft bereits", "%(num)d Lastschriften laufen bereits", self.running)
            )
        if self.failed:
            parts.append(_("%(count)d abgelehnt", count=self.failed))
        if self.unconfirmed:
            parts.append(
                _(
                    "%(count)d ohne Antwort von Stripe (ein erneuter Einzug verwendet denselben Schlüssel)",
                    count=self.unconfirmed,
                )
            )
        if self.self_paying:
            parts.append(
                ngettext(
                    "%(num)d Stelle zahlt selbst per Überweisung (%(names)s)",
                    "%(num)d Stellen zahlen selbst per Überweisung (%(names)s)",
                    len(self.self_paying),
                    names=", ".join(payer.name for payer in self.self_paying),
                )
            )
        return "; ".join(parts) + "."


def prepare_collection(actor: User, settlement: Settlement, *, stripe_ready: bool = True) -> CollectionPlan:
    """Under the settlement's lock: write a debit (with its key) per debtor that pays by debit and still owes,
    and move the settlement to collecting when any debit is under way; every other debtor that still owes
    is left to pay itself (listed in the plan, its instructions stay open).

    Raises PermissionDenied (not operator finance) or Conflict (not approved, nor collecting/failed; or a
    debit to send while Stripe is not configured, `stripe_ready`), both before anything changes.
    Returns the debits to submit (new ones and pending ones from an interrupted collect).
    """
    require_operator_finance(actor, "Lastschriften einziehen")
    settlement = lock_settlement(settlement.id)
    if settlement.status is SettlementStatus.DRAFT:
        raise Conflict("Die Verrechnung muss erst von einer zweiten Person freigegeben werden.")
    if settlement.status is SettlementStatus.PAID:
        raise Conflict("Die Verrechnung ist bereits bezahlt.")

    ways = debtor_ways(settlement, lock=True)
    debits = {
        (d.debtor_member_id, d.attempt): d
        for d in db.session.scalars(select(Debit).where(Debit.settlement_id == settlement.id))
    }
    owed: dict[int, int] = defaultdict(int)
    for instruction in settlement.instructions:
        if instruction.status is not InstructionStatus.PAID:
            owed[instruction.debtor_member_id] += instruction.amount_cents
    plan = CollectionPlan()
    new: list[tuple[int, int, int]] = []  # debtor, attempt, amount
    for debtor_id, amount in sorted(owed.items()):
        mine = [d for (member, _attempt), d in debits.items() if member == debtor_id]
        active = [d for d in mine if d.status in ACTIVE]
        if active:  # decided when it was sent: a pending debit is the same request, retried with its key
            plan.debits.extend(d for d in active if d.status is DebitStatus.PENDING)
            plan.running += sum(1 for d in active if d.status is not DebitStatus.PENDING)
        elif not ways[debtor_id].by_debit:
            debtor = db.session.get(Member, debtor_id)
            plan.self_paying.append(SelfPayer(debtor_id, debtor.name, amount, ways[debtor_id].reason))
        else:
            new.append((debtor_id, max((d.attempt for d in mine), default=0) + 1, amount))
    if (new or plan.debits) and not stripe_ready:
        raise Conflict("Für den Lastschrifteinzug ist kein Stripe-Zugang eingerichtet (STRIPE_API_KEY).")
    for debtor_id, attempt, amount in new:
        debit = Debit(
            settlement_id=settlement.id,
            debtor_member_id=debtor_id,
            attempt=attempt,
            amount_cents=amount,
            idempotency_key=_debit_key(settlement.id, debtor_id, attempt),
            status=DebitStatus.PENDING,
        )
        db.session.add(debit)
        plan.debits.append(debit)
        for instruction in settlement.instructions:
            if instruction.debtor_member_id == debtor_id and instruction.status is InstructionStatus.OPEN:
                instruction.status = InstructionStatus.COLLECTING
    db.session.flush()
    if plan.debits and settlement.status is not SettlementStatus.COLLECTING:
        # after the instructions: the announced settlement shows which of them are being collected
        settlement.collected_at = utcnow()
        move_settlement(settlement, SettlementStatus.COLLECTING)
    record_audit(
        actor,
        "settlement.collect",
        settlement,
        data={"debits": [d.id for d in plan.debits], "self_paying": [p.member_id for p in plan.self_paying]},
    )
    return plan


def _key_part(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def debited_iban(member: Member) -> str:
    """The account the member's SEPA mandate lets the operator debit (its invoice profile; the invoices name
    it as the debited account, BT-91), validated. Raises Conflict naming the member when missing or invalid."""
    try:
        return IBAN(invoice_profile_of(member.id).mandate_iban or "").compact
    except SchwiftyException as exc:
        raise Conflict(
            "Für %(member)s ist keine gültige IBAN des Lastschriftmandats hinterlegt.", member=member.name
        ) from exc


def ensure_customer(member: Member, client: StripeClient) -> StripeCustomer:
    """The member's Stripe customer with a SEPA Direct Debit payment method for the account of its mandate
    (``debited_iban``), addressed to the member's finance contact (``finance_contact_email``).

    Keys derive from the member (and its customer and IBAN), so a repeated call after a lost answer finds
    the same objects at Stripe instead of making new ones. A stored customer gets the current name and
    e-mail on every call; one that Stripe no longer knows is made anew (``replace_customer``).
    Raises StripeError (Stripe refused or did not answer) and Conflict (no valid IBAN)."""
    iban = debited_iban(member)
    email = finance_contact_email(member)
    row = db.session.get(StripeCustomer, member.id)
    if row is None:
        customer = client.create_customer(
            name=member.name, email=email, member_id=member.id, idempotency_key=f"lb-customer-{member.id}"
        )
        row = StripeCustomer(member_id=member.id, customer_id=customer["id"])
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # a concurrent collect stored it first (the same key gave the same customer)
            row = db.session.scalar(
                select(StripeCustomer)
                .where(StripeCustomer.member_id == member.id)
                .execution_options(populate_existing=True)
            )
    else:
        try:
            client.update_customer(row.customer_id, name=member.name, email=email)
        except InvalidRequestError as error:
            if not (is_missing(error) and client.customer_is_gone(row.customer_id)):
                raise
            replace_customer(member, row, client)
    if row.payment_method_id is None or row.iban != iban:
        # per customer too: a payment method that belonged to a lost customer cannot be attached again
        suffix = f"{member.id}-{_key_part(f'{row.customer_id}:{iban}')}"
        method = client.create_sepa_payment_method(
            iban=iban, name=member.name, email=email, idempotency_key=f"lb-pm-{suffix}"
        )
        client.attach_payment_method(method["id"], customer_id=row.customer_id, idempotency_key=f"lb-attach-{suffix}")
        row.payment_method_id = method["id"]
        row.iban = iban
        db.session.flush()
    return row


def replace_customer(member: Member, row: StripeCustomer, client: StripeClient) -> StripeCustomer:
    """Make the member's customer anew after Stripe lost `row`'s (deleted at Stripe, a reset account), and
    store it in `row` without a payment method (``ensure_customer`` attaches one).

    The key names the lost customer: a retry after a lost answer finds the same new customer, and a later
    loss makes another one. Raises StripeError."""
    lost = row.customer_id
    customer = client.create_customer(
        name=member.name,
        email=finance_contact_email(member),
        member_id=member.id,
        idempotency_key=f"lb-customer-{member.id}-after-{lost}",
    )
    log.warning("stripe customer %s of member %s is gone; replaced by %s", lost, member.id, customer["id"])
    row.customer_id = customer["id"]
    row.payment_method_id = None
    row.iban = None
    db.session.flush()
    audit = {"lost": lost, "new": customer["id"]}
    record_audit(None, "stripe.customer_replaced", member, member_id=member.id, data=audit)
    return row


def _debit_key(settlement_id: int, debtor_id: int, attempt: int) -> str:
    return f"lb-debit-{settlement_id}-{debtor_id}-{attempt}"


def _create_intent(settlement: Settlement, debit: Debit, member: Member, client: StripeClient) -> dict[str, Any]:
    """The debit's PaymentIntent, sent with its stored key.

    If Stripe lost the customer meanwhile ("No such customer"), the customer is made anew with its payment
    method and the debit sent once more under a key of its own: Stripe keeps the refusal under the first
    key, and that key with another customer would be an idempotency error. The new key derives from the
    debit and the new customer (so a repeat after a crash finds the same PaymentIntent) and is stored as the
    debit's key before it is sent. Raises StripeError and Conflict as ``ensure_customer``."""

    advice = advice_number(settlement.period, member.id)
    description = advice_remittance(settlement, member.id, lines_for(settlement.id, member.id))

    def send(customer: StripeCustomer) -> dict[str, Any]:
        params = StripeClient.payment_intent_params(
            amount_cents=debit.amount_cents,
            customer_id=customer.customer_id,
            payment_method_id=customer.payment_method_id or "",
            description=description,
            metadata={
                "settlement_id": settlement.id,
                "debtor_member_id": member.id,
                "debit_id": debit.id,
                "advice_number": advice,
            },
        )
        return client.create_payment_intent(params, idempotency_key=debit.idempotency_key)

    customer = ensure_customer(member, client)
    try:
        return send(customer)
    except InvalidRequestError as error:
        if not (is_missing(error) and client.customer_is_gone(customer.customer_id)):
            raise
    replace_customer(member, customer, client)
    customer = ensure_customer(member, client)
    debit.idempotency_key = f"{_debit_key(settlement.id, debit.debtor_member_id, debit.attempt)}-{customer.customer_id}"
    db.session.flush()
    return send(customer)


def _fail(debit: Debit, settlement: Settlement, message: str) -> None:
    from marketplace.payments.events import reopen_instructions

    debit.status = DebitStatus.FAILED
    debit.last_error = message[:500]
    reopen_instructions(settlement, debit.debtor_member_id)


def submit_debits(settlement: Settlement, debits: list[Debit], client: StripeClient | None = None) -> CollectionOutcome:
    """Create the PaymentIntents of pending debits with their stored keys (flushes after each)."""
    client = client or StripeClient.from_config(current_app.config)
    outcome = CollectionOutcome()
    for debit in debits:
        if debit.status is not DebitStatus.PENDING:
            if debit.status in ACTIVE:  # another collect sent it between this one's plan and now: under way
                outcome.running += 1
            continue
        failed = outcome.failed
        member = db.session.get(Member, debit.debtor_member_id)
        try:
            intent = _create_intent(settlement, debit, member, client)
        except Conflict as error:  # no valid IBAN: nothing was sent
            _fail(debit, settlement, error.detail)
            outcome.failed += 1
        except (CardError, InvalidRequestError) as error:  # Stripe refused this debit: nothing was charged
            _fail(debit, settlement, f"Stripe: {error.message}")
            outcome.failed += 1
        except StripeError as error:
            # no answer, Stripe kept failing, or our own key or configuration is wrong: the outcome is
            # unknown or the debtor is not at fault, so the debit stays pending with its key for the retry
            debit.last_error = f"{error.message} Ein erneuter Einzug verwendet denselben Schlüssel."[:500]
            outcome.unconfirmed += 1
        else:
            debit.payment_intent_id = intent["id"]
            debit.status = DebitStatus.PROCESSING
            debit.last_error = ""
            outcome.submitted += 1
        db.session.flush()
        if outcome.failed > failed:
            announce(debit_event(PaymentFailed, debit))
    if outcome.failed and settlement.status is SettlementStatus.COLLECTING:
        move_settlement(settlement, SettlementStatus.FAILED)
    return outcome


def collect_settlement(actor: User, settlement: Settlement, client: StripeClient | None = None) -> CollectionOutcome:
    """Both steps with the commit between them that makes each Idempotency-Key durable before its request.

    Used by the page and the API (whose own commit at the edge then stores the outcome). The outcome counts
    the debits and names the debtors left to pay themselves. Raises Conflict when a debit is to be sent and
    no Stripe API key is configured (before anything changes)."""
    require_operator_finance(actor, "Lastschriften einziehen")
    stripe_ready = client is not None or bool(current_app.config.get("STRIPE_API_KEY"))
    plan = prepare_collection(actor, settlement, stripe_ready=stripe_ready)
    db.session.commit()
    outcome = (
        submit_debits(db.session.get(Settlement, settlement.id), plan.debits, client)
        if plan.debits
        else CollectionOutcome()
    )
    outcome.running += plan.running
    outcome.self_paying = plan.self_paying
    return outcome
