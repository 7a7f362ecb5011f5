"""Stripe webhooks: the signature check and applying each event once.

`payment_intent.succeeded` books the debtor's payment (operator in-transit against the debtor's clearing
account); when the last debtor of a settlement has paid, the same `post_transfers` call books the payouts
(each creditor's clearing account against the operator's bank: the operator's pain.001 file pays them) and
the settlement is paid. `payment_intent.payment_failed` reopens the debtor's instructions and marks the
settlement failed, so that collecting again makes a new attempt. `payout.paid` (Stripe paid the collected
money out to the operator's bank) moves it from in-transit to the bank.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.core import signing
from marketplace.core.errors import DomainError
from marketplace.core.events import PaymentFailed, PaymentSucceeded, announce
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.extensions import db
from marketplace.ledger.models import AccountKind, TransferKind
from marketplace.ledger.operations import TransferSpec, account_of, current_period, post_transfers
from marketplace.members.models import Member
from marketplace.payments.models import Debit, DebitStatus, StripeEvent, debit_event
from marketplace.settlement.models import InstructionStatus, Settlement, SettlementStatus
from marketplace.settlement.operations import (
    completion_specs,
    lock_settlement,
    mark_paid_if_complete,
    move_settlement,
)

log = logging.getLogger(__name__)

#: Seconds a signature timestamp may differ from now, in either direction.
TOLERANCE = signing.TOLERANCE_SECONDS


class WebhookRejected(DomainError):
    """The request is not a correctly signed, fresh Stripe event."""

    status = 400
    title = "Bad request"


_REFUSALS = {
    signing.Refusal.UNREADABLE: "Die Signatur fehlt oder ist unlesbar.",
    signing.Refusal.STALE: "Die Signatur ist zu alt oder liegt in der Zukunft.",
    signing.Refusal.MISMATCH: "Die Signatur stimmt nicht.",
}


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str | None,
    now: float | None = None,  # float: a Unix time, not money
) -> None:
    """Check ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]``: HMAC-SHA256 with `secret` over
    ``{t}.{payload}``, compared in constant time, `t` within 300 s of now (both ways); `core.signing`.

    Raises WebhookRejected; the message never contains the secret or the signature."""
    if not secret:
        raise WebhookRejected("Für Stripe-Webhooks ist kein Geheimnis konfiguriert (STRIPE_WEBHOOK_SECRET).")
    try:
        signing.check(secret, payload, header, now=now, tolerance=TOLERANCE)
    except signing.SignatureRefused as refused:
        raise WebhookRejected(_REFUSALS[refused.refusal]) from None


def reopen_instructions(settlement: Settlement, debtor_id: int) -> None:
    for instruction in settlement.instructions:
        if instruction.debtor_member_id == debtor_id and instruction.status is not InstructionStatus.PAID:
            instruction.status = InstructionStatus.OPEN


class _Strict(BaseModel):
    """Stripe's JSON as it is documented: the types are checked, unknown fields are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


#: The largest amount a ledger column (BIGINT, cents) holds.
_BIGINT = 2**63 - 1
#: Stripe object ids (e.g. ``pi_3Nx…``, ``evt_1…``): printable ASCII without spaces.
_STRIPE_ID = r"^[\x21-\x7e]{1,255}$"


class _PaymentError(_Strict):
    message: str | None = Field(default=None, max_length=5000)
    code: str | None = Field(default=None, max_length=255)


class _Intent(_Strict):
    id: str = Field(pattern=_STRIPE_ID)
    amount: int | None = Field(default=None, ge=0, le=_BIGINT)
    metadata: dict[str, str | int] = Field(default_factory=dict)
    last_payment_error: _PaymentError | None = None


class _Payout(_Strict):
    id: str = Field(pattern=_STRIPE_ID)
    amount: int = Field(ge=0, le=_BIGINT)


class _Data(_Strict):
    object: dict[str, Any]


class _Event(_Strict):
    id: str = Field(min_length=1, max_length=100, pattern=_STRIPE_ID)
    type: str = Field(max_length=100, pattern=r"^[a-z0-9_.]*$")
    #: checked only for the event types this exchange acts on
    data: Any = None


_OBJECTS: dict[str, type[_Strict]] = {
    "payment_intent.succeeded": _Intent,
    "payment_intent.payment_failed": _Intent,
    "payout.paid": _Payout,
}


def _parse(event: dict[str, Any]) -> tuple[_Event, _Strict | None]:
    """The event and the object it is about, type-checked before anything is written.

    Raises WebhookRejected (400) naming the first field that is missing or of the wrong type: a correctly
    signed event that is malformed is refused, not half applied."""
    try:
        parsed = _Event.model_validate(event)
        model = _OBJECTS.get(parsed.type)
        if model is None:
            return parsed, None
        data = _Data.model_validate(parsed.data)
        return parsed, model.model_validate(data.object)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "Ereignis"
        raise WebhookRejected(f"Das Stripe-Ereignis ist fehlerhaft ({where}).") from None


def apply_event(event: dict[str, Any]) -> bool:
    """Apply a verified event once; False if it was applied before (then nothing happens).

    Raises WebhookRejected for an event whose fields are missing or of the wrong type."""
    parsed, obj = _parse(event)
    try:
        with db.session.begin_nested():
            db.session.add(StripeEvent(id=parsed.id, type=parsed.type))
            db.session.flush()
    except IntegrityError:
        log.info("stripe event %s (%s) already applied", parsed.id, parsed.type)
        return False
    log.info("stripe event %s (%s) for %s", parsed.id, parsed.type, getattr(obj, "id", None))
    if isinstance(obj, _Intent) and parsed.type == "payment_intent.succeeded":
        _payment_succeeded(obj)
    elif isinstance(obj, _Intent):
        _payment_failed(obj)
    elif isinstance(obj, _Payout):
        _payout_paid(obj)
    return True


def _debit_for(intent: _Intent) -> Debit | None:
    debit = db.session.scalar(locked(select(Debit).where(Debit.payment_intent_id == intent.id), Debit))
    if debit is None:
        # the answer to our create may have been lost: find the debit by the metadata we sent
        debit_id = str(intent.metadata.get("debit_id", ""))
        if debit_id.isascii() and debit_id.isdigit() and len(debit_id) < 10:
            debit = db.session.scalar(locked(select(Debit).where(Debit.id == int(debit_id)), Debit))
            if debit is not None and debit.payment_intent_id is None:
                debit.payment_intent_id = intent.id
            elif debit is not None and debit.payment_intent_id != intent.id:
                debit = None
    if debit is None:
        log.warning("stripe payment intent %s matches no debit", intent.id)
    return debit


def _operator() -> Member:
    return db.session.scalar(select(Member).where(Member.is_operator.is_(True)))


def _payment_succeeded(intent: _Intent) -> None:
    debit = _debit_for(intent)
    if debit is None or debit.status is DebitStatus.SUCCEEDED:
        return
    if intent.amount != debit.amount_cents:
        log.error("stripe payment intent %s: amount differs from debit %s", intent.id, debit.id)
        return
    settlement = lock_settlement(debit.settlement_id)
    operator = _operator()
    period = current_period()
    specs = [
        TransferSpec(
            idempotency_key=f"payment:{intent.id}",
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
    db.session.flush()
    announce(debit_event(PaymentSucceeded, debit))
    mark_paid_if_complete(settlement)
    db.session.flush()
    record_audit(None, "debit.succeeded", debit, member_id=debit.debtor_member_id, data={"intent": intent.id})


def _payment_failed(intent: _Intent) -> None:
    debit = _debit_for(intent)
    if debit is None or debit.status in (DebitStatus.SUCCEEDED, DebitStatus.FAILED):
        return
    settlement = lock_settlement(debit.settlement_id)
    error = intent.last_payment_error or _PaymentError()
    debit.status = DebitStatus.FAILED
    debit.last_error = f"Lastschrift abgelehnt: {error.message or error.code or 'ohne Angabe'}"[:500]
    reopen_instructions(settlement, debit.debtor_member_id)
    db.session.flush()
    announce(debit_event(PaymentFailed, debit))
    if settlement.status is SettlementStatus.COLLECTING:
        move_settlement(settlement, SettlementStatus.FAILED)
    db.session.flush()
    record_audit(None, "debit.failed", debit, member_id=debit.debtor_member_id, data={"intent": intent.id})


def _payout_paid(payout: _Payout) -> None:
    amount = payout.amount
    if amount <= 0:
        return
    operator = _operator()
    post_transfers(
        [
            TransferSpec(
                idempotency_key=f"stripe-payout:{payout.id}",
                kind=TransferKind.PAYMENT,
                period=current_period(),
                description=f"Stripe-Auszahlung {payout.id} auf das Bankkonto",
                postings=(
                    (account_of(operator.id, AccountKind.IN_TRANSIT).id, amount),
                    (account_of(operator.id, AccountKind.BANK).id, -amount),
                ),
            )
        ],
        None,
    )
