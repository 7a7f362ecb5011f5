"""Stripe webhooks: the signature check and applying each event once.

`payment_intent.succeeded` books the debtor's payment (operator in-transit against the debtor's clearing
account); when the last debtor of a settlement has paid, the same `post_transfers` call books the payouts
(each creditor's clearing account against the operator's bank: the operator's pain.001 file pays them) and
the settlement is paid. `payment_intent.payment_failed` reopens the debtor's instructions and marks the
settlement failed, so that collecting again makes a new attempt. `payout.paid` (Stripe paid the collected
money out to the operator's bank) moves it from in-transit to the bank.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.core.errors import DomainError
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.extensions import db
from marketplace.ledger.models import AccountKind, TransferKind
from marketplace.ledger.operations import TransferSpec, account_of, current_period, post_transfers
from marketplace.members.models import Member
from marketplace.payments.models import Debit, DebitStatus, StripeEvent
from marketplace.settlement.models import InstructionStatus, Settlement, SettlementStatus
from marketplace.settlement.operations import (
    completion_specs,
    lock_settlement,
    mark_paid_if_complete,
    move_settlement,
)

log = logging.getLogger(__name__)

#: Seconds a signature timestamp may differ from now, in either direction.
TOLERANCE = 300


class WebhookRejected(DomainError):
    """The request is not a correctly signed, fresh Stripe event."""

    status = 400
    title = "Bad request"


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str | None,
    now: float | None = None,  # float: a Unix time, not money
) -> None:
    """Check ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]``: HMAC-SHA256 with `secret` over
    ``{t}.{payload}``, compared in constant time, `t` within 300 s of now (both ways).

    Raises WebhookRejected; the message never contains the secret or the signature."""
    if not secret:
        raise WebhookRejected("Für Stripe-Webhooks ist kein Geheimnis konfiguriert (STRIPE_WEBHOOK_SECRET).")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookRejected("Die Signatur fehlt oder ist unlesbar.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE:
        raise WebhookRejected("Die Signatur ist zu alt oder liegt in der Zukunft.")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookRejected("Die Signatur stimmt nicht.")


def reopen_instructions(settlement: Settlement, debtor_id: int) -> None:
    for instruction in settlement.instructions:
        if instruction.debtor_member_id == debtor_id and instruction.status is not InstructionStatus.PAID:
            instruction.status = InstructionStatus.OPEN


def apply_event(event: dict[str, Any]) -> bool:
    """Apply a verified event once; False if it was applied before (then nothing happens)."""
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    if not event_id:
        raise WebhookRejected("Das Ereignis hat keine id.")
    try:
        with db.session.begin_nested():
            db.session.add(StripeEvent(id=event_id[:100], type=event_type[:100]))
            db.session.flush()
    except IntegrityError:
        log.info("stripe event %s (%s) already applied", event_id, event_type)
        return False
    obj = (event.get("data") or {}).get("object") or {}
    log.info("stripe event %s (%s) for %s", event_id, event_type, obj.get("id"))
    if event_type == "payment_intent.succeeded":
        _payment_succeeded(obj)
    elif event_type == "payment_intent.payment_failed":
        _payment_failed(obj)
    elif event_type == "payout.paid":
        _payout_paid(obj)
    return True


def _debit_for(intent: dict[str, Any]) -> Debit | None:
    intent_id = intent.get("id")
    debit = (
        db.session.scalar(locked(select(Debit).where(Debit.payment_intent_id == intent_id), Debit))
        if intent_id
        else None
    )
    if debit is None:
        # the answer to our create may have been lost: find the debit by the metadata we sent
        debit_id = (intent.get("metadata") or {}).get("debit_id")
        if debit_id and str(debit_id).isdigit():
            debit = db.session.scalar(locked(select(Debit).where(Debit.id == int(debit_id)), Debit))
            if debit is not None and debit.payment_intent_id is None:
                debit.payment_intent_id = intent_id
            elif debit is not None and debit.payment_intent_id != intent_id:
                debit = None
    if debit is None:
        log.warning("stripe payment intent %s matches no debit", intent_id)
    return debit


def _operator() -> Member:
    return db.session.scalar(select(Member).where(Member.is_operator.is_(True)))


def _payment_succeeded(intent: dict[str, Any]) -> None:
    debit = _debit_for(intent)
    if debit is None or debit.status is DebitStatus.SUCCEEDED:
        return
    if int(intent.get("amount") or 0) != debit.amount_cents:
        log.error("stripe payment intent %s: amount differs from debit %s", intent.get("id"), debit.id)
        return
    settlement = lock_settlement(debit.settlement_id)
    operator = _operator()
    period = current_period()
    specs = [
        TransferSpec(
            idempotency_key=f"payment:{intent['id']}",
            kind=TransferKind.PAYMENT,
            period=period,
            description=f"SEPA-Lastschrift {debit.debtor.name}, Verrechnung {settlement.period}",
            postings=(
                (account_of(debit.debtor_member_id).id, debit.amount_cents),
                (account_of(operator.id, AccountKind.IN_TRANSIT).id, -debit.amount_cents),
            ),
        )
    ]
    debit.status = DebitStatus.SUCCEEDED
    debit.last_error = ""
    for instruction in settlement.instructions:
        if (
            instruction.debtor_member_id == debit.debtor_member_id
            and instruction.status is InstructionStatus.COLLECTING
        ):
            instruction.status = InstructionStatus.PAID
    specs.extend(completion_specs(settlement))
    result = post_transfers(specs, None)
    if result.created_ids:
        debit.transfer_id = result.created_ids[0]
    mark_paid_if_complete(settlement)
    db.session.flush()
    record_audit(None, "debit.succeeded", debit, member_id=debit.debtor_member_id, data={"intent": intent["id"]})


def _payment_failed(intent: dict[str, Any]) -> None:
    debit = _debit_for(intent)
    if debit is None or debit.status in (DebitStatus.SUCCEEDED, DebitStatus.FAILED):
        return
    settlement = lock_settlement(debit.settlement_id)
    error = intent.get("last_payment_error") or {}
    debit.status = DebitStatus.FAILED
    debit.last_error = f"Lastschrift abgelehnt: {error.get('message') or error.get('code') or 'ohne Angabe'}"[:500]
    reopen_instructions(settlement, debit.debtor_member_id)
    if settlement.status is SettlementStatus.COLLECTING:
        move_settlement(settlement, SettlementStatus.FAILED)
    db.session.flush()
    record_audit(None, "debit.failed", debit, member_id=debit.debtor_member_id, data={"intent": intent.get("id")})


def _payout_paid(payout: dict[str, Any]) -> None:
    amount = int(payout.get("amount") or 0)
    if amount <= 0 or not payout.get("id"):
        return
    operator = _operator()
    post_transfers(
        [
            TransferSpec(
                idempotency_key=f"stripe-payout:{payout['id']}",
                kind=TransferKind.PAYMENT,
                period=current_period(),
                description=f"Stripe-Auszahlung {payout['id']} auf das Bankkonto",
                postings=(
                    (account_of(operator.id, AccountKind.IN_TRANSIT).id, amount),
                    (account_of(operator.id, AccountKind.BANK).id, -amount),
                ),
            )
        ],
        None,
    )
