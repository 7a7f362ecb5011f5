"""Domain events: what happened, announced by the operation that did it, heard by whoever subscribed.

An operation announces an event after it flushed its change, with the data as it was at that moment
(an event is a frozen snapshot, never a live model object): a booking that goes accepted -> active -> ended
in one transaction announces three events with three states. Subscribers run at once, inside the same
transaction, so what they write (an e-mail in the outbox, a webhook delivery row) commits or rolls back
with the change; an exception in a subscriber fails the operation.

    from marketplace.core.events import BookingAccepted, announce, subscribe

    announce(BookingAccepted(booking_id=..., status="accepted", ...))   # in bookings.operations

    @subscribe(BookingAccepted)                                            # in a higher area
    def mail_the_buyer(event: BookingAccepted) -> None: ...

`subscribe` only marks a function; `connect(app, module, ...)` (called from the subscribing package's
``init_app``, which `create_app` calls) hooks the marked functions to that application. So importing a
module never subscribes anything, and an application built without a package hears nothing of it.
A subscription to a base class (e.g. `BookingChanged`) hears every event derived from it.

Events flow upward: a lower area (bookings) announces, a higher one (notifications, webhooks) subscribes;
the announcing area never imports its subscribers. This module imports no area: the events carry plain
values (ids, status names, cents, dates). docs/ARCHITECTURE.md lists who announces and who hears what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import Any, TypeVar

from blinker import Signal
from flask import Flask, current_app

__all__ = [
    "AdvanceCharged",
    "BillingRunCompleted",
    "BookingAccepted",
    "BookingActivated",
    "BookingCancelled",
    "BookingChanged",
    "BookingDeclined",
    "BookingEnded",
    "BookingMessagePosted",
    "BookingRequested",
    "BookingWithdrawn",
    "CorrectionChanged",
    "CorrectionOpened",
    "CorrectionResolved",
    "CostSharingAnswered",
    "CostSharingInvited",
    "CostSharingLeft",
    "CostSharingParticipation",
    "CostSharingTruedUp",
    "Event",
    "InstructionState",
    "InvoiceIssued",
    "InvoiceObjected",
    "InvoiceReleaseChanged",
    "InvoiceReleaseOverdue",
    "InvoiceReleased",
    "PasswordResetRequested",
    "PaymentChanged",
    "PaymentFailed",
    "PaymentSucceeded",
    "PeriodClosed",
    "PositionState",
    "SettlementApproved",
    "SettlementChanged",
    "SettlementCollecting",
    "SettlementCreated",
    "SettlementFailed",
    "SettlementPaid",
    "ShareChange",
    "TrueUpState",
    "UsageChanged",
    "UsageConfirmed",
    "UsageDisputed",
    "UsageRecorded",
    "UserInvited",
    "announce",
    "connect",
    "subscribe",
]


# --- the machinery --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of every domain event: a frozen record of one thing that happened."""


E = TypeVar("E", bound=Event)
Subscriber = Callable[[Any], None]

_signals: dict[type[Event], Signal] = {}
#: One blinker receiver per subscriber function, so connecting it twice to one app is a no-op.
_receivers: dict[Subscriber, Callable[..., None]] = {}
_MARK = "__subscribes_to__"


def _signal(event_type: type[Event]) -> Signal:
    signal = _signals.get(event_type)
    if signal is None:
        signal = _signals[event_type] = Signal(event_type.__name__)
    return signal


def announce(event: Event) -> None:
    """Tell the current application's subscribers of `event` (and of its base classes) what happened.

    Call it after the change was flushed. Subscribers run now, in this transaction, in the order they were
    connected; their exceptions propagate to the caller."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for cls in type(event).__mro__:
        if cls is Event or not (isinstance(cls, type) and issubclass(cls, Event)):
            continue
        signal = _signals.get(cls)
        if signal is not None and signal.receivers:
            signal.send(app, event=event)


def subscribe(*event_types: type[Event]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Mark a function as a subscriber of the given event types; `connect` hooks it to an application."""
    if not event_types or not all(isinstance(t, type) and issubclass(t, Event) for t in event_types):
        raise TypeError("subscribe() takes one or more Event classes")

    def mark(function: Callable[[E], None]) -> Callable[[E], None]:
        setattr(function, _MARK, (*getattr(function, _MARK, ()), *event_types))
        return function

    return mark


def _subscribers(source: ModuleType | Subscriber) -> list[Subscriber]:
    if isinstance(source, ModuleType):
        return [value for value in vars(source).values() if callable(value) and getattr(value, _MARK, None)]
    if not getattr(source, _MARK, None):
        raise TypeError(f"{source!r} is not marked with @subscribe")
    return [source]


def connect(app: Flask, *sources: ModuleType | Subscriber) -> None:
    """Subscribe the marked functions of the given modules (or the given functions) for `app`."""
    for source in sources:
        for function in _subscribers(source):
            receiver = _receivers.get(function)
            if receiver is None:

                def receiver(_sender: object, *, event: Event, _function: Subscriber = function) -> None:
                    _function(event)

                _receivers[function] = receiver
            for event_type in getattr(function, _MARK):
                _signal(event_type).connect(receiver, sender=app, weak=False)


def subscribers_of(app: Flask, event_type: type[Event]) -> list[Subscriber]:
    """The functions that hear `event_type` itself in `app` (for tests and the docs)."""
    signal = _signals.get(event_type)
    if signal is None:
        return []
    heard = {id(receiver) for receiver in signal.receivers_for(app)}
    return [function for function, receiver in _receivers.items() if id(receiver) in heard]


# --- bookings (announced by marketplace.bookings.operations) ---------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingChanged(Event):
    """A booking changed its status; the booking as it was right after this change."""

    booking_id: int
    status: str
    service_id: int
    service_title: str
    buyer_id: int
    provider_id: int
    quantity: int
    starts_on: date
    ends_on: date | None
    unit_price_cents: int | None
    #: Who did it; None: the system, by date.
    actor_id: int | None
    actor_member_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingsAdvancedByDate(Event):
    """The calendar moved bookings from one status to the next (the daily job, a billing run): one event per
    transition and run, however many bookings it moved; each of them now has at least `to_status`."""

    from_status: str
    to_status: str
    booking_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingRequested(BookingChanged):
    """A buyer asked for a service."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingAccepted(BookingChanged):
    """The provider accepted; price and terms are fixed in the booking from now on."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingDeclined(BookingChanged):
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingWithdrawn(BookingChanged):
    """The buyer withdrew its request before the decision."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingActivated(BookingChanged):
    """The start date came (recorded by the daily job, a billing run or a cancellation)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingEnded(BookingChanged):
    """The last booked day passed (recorded like `BookingActivated`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingCancelled(BookingChanged):
    """Either party cancelled; `ends_on` is the effective end date."""

    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingMessagePosted(Event):
    booking_id: int
    message_id: int
    service_title: str
    buyer_id: int
    provider_id: int
    author_id: int
    author_member_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageChanged(Event):
    """A usage record of a metered booking changed; the record as it was right after this change."""

    record_id: int
    booking_id: int
    period: str
    quantity: Decimal
    status: str
    service_title: str
    buyer_id: int
    provider_id: int
    actor_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageRecorded(UsageChanged):
    """The provider entered a month's usage, or corrected it (`previous_status` is then not None)."""

    previous_status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageConfirmed(UsageChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageDisputed(UsageChanged):
    reason: str = ""


# --- month-end (announced by marketplace.monthend) ------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AdvanceCharged:
    """A cost-sharing advance (Abschlag) a billing run charged a participant just now (net cents)."""

    member_id: int
    plan_id: int
    service_title: str
    year: int
    amount_cents: int
    invoice_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class BillingRunCompleted(Event):
    """A billing run charged what was billable in `period` (a rerun may have charged nothing new)."""

    run_id: int
    period: str
    transfers_created: int
    total_cents: int
    #: The members this run charged anything (bookings, usage, adjustments, cost-sharing advances),
    #: ascending (empty when it created no charge).
    billed_buyer_ids: tuple[int, ...]
    actor_id: int | None
    #: The cost-sharing advances among those charges, by member and plan.
    advances: tuple[AdvanceCharged, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class PeriodClosed(Event):
    """A month was closed: its invoices are issued, nothing more is posted into it."""

    period: str
    actor_id: int


# --- settlement and payments (announced by marketplace.settlement and marketplace.payments) -------------


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceIssued(Event):
    """An invoice or credit note was issued at a month's close."""

    invoice_id: int
    number: str
    credit_note: bool
    period: str
    provider_id: int
    buyer_id: int
    net_cents: int
    vat_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceReleaseChanged(Event):
    """The buyer's finance staff released an invoice or objected to it; the invoice as it was then."""

    invoice_id: int
    number: str
    period: str
    provider_id: int
    buyer_id: int
    gross_cents: int
    release_status: str
    actor_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceReleased(InvoiceReleaseChanged):
    """Certified "sachlich und rechnerisch richtig" by the buyer's finance staff."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceObjected(InvoiceReleaseChanged):
    """The buyer objected to the whole invoice; `correction_id` is the case that decides."""

    reason: str = ""
    correction_id: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class InvoiceReleaseOverdue(InvoiceReleaseChanged):
    """A pending invoice passed its release deadline `due`: the reminder run tells the buyer's finance staff."""

    due: date | None = None


# --- corrections (announced by marketplace.corrections) -------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CorrectionChanged(Event):
    """A correction case of billed usage or of an invoice was opened or decided; the case as it was then."""

    correction_id: int
    source: str
    status: str
    period: str
    buyer_id: int
    provider_id: int
    invoice_id: int | None
    actor_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CorrectionOpened(CorrectionChanged):
    """A party disputed billed usage, corrected it after billing, or objected to an invoice."""

    statement: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class CorrectionResolved(CorrectionChanged):
    """The operator's finance staff decided the case (`status` corrected or rejected) with `note`."""

    note: str = ""
    credit_note_id: int | None = None
    charge_transfer_id: int | None = None


@dataclass(frozen=True, slots=True)
class PositionState:
    member_id: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class InstructionState:
    instruction_id: int
    debtor_member_id: int
    creditor_member_id: int
    amount_cents: int
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementChanged(Event):
    """A settlement was created or changed its status; positions and instructions as they were then."""

    settlement_id: int
    period: str
    status: str
    positions: tuple[PositionState, ...]
    instructions: tuple[InstructionState, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementCreated(SettlementChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementApproved(SettlementChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementCollecting(SettlementChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementPaid(SettlementChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class SettlementFailed(SettlementChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentChanged(Event):
    """A debtor's direct debit for a settlement succeeded or failed."""

    debit_id: int
    settlement_id: int
    debtor_member_id: int
    amount_cents: int
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentSucceeded(PaymentChanged):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentFailed(PaymentChanged):
    error: str = ""


# --- members (announced by marketplace.members.operations) ---------------------------------------------


# --- cost sharing (announced by marketplace.costsharing) ----------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CostSharingParticipation(Event):
    """A member's participation in a cost-sharing plan, as it is after the change."""

    plan_id: int
    participant_id: int
    member_id: int
    provider_id: int
    service_title: str
    year: int
    state: str  # invited, accepted, declined
    #: The member's expected annual share at the planned cost, in cents, were it to take part (or as it does).
    expected_cents: int
    actor_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CostSharingInvited(CostSharingParticipation):
    """The provider invited a member to share a service's cost; the member's staff answer."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ShareChange:
    """An accepted participant's annual share at the planned cost, before and after a change (cents)."""

    member_id: int
    old_cents: int
    new_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CostSharingAnswered(CostSharingParticipation):
    """The member's staff accepted or declined; the shares of the others change with it."""

    #: The other accepted participants whose annual share the answer changed (none after a decline: the key
    #: is applied over those who accepted, and an invitee carried no share).
    share_changes: tuple[ShareChange, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CostSharingLeft(CostSharingParticipation):
    """The provider entered or withdrew a participant's leaving date, or removed a participation entered by
    mistake (`removed`; the participant id no longer exists then). The others' shares change with it."""

    #: The last day of the participation (None: it stays, or it was removed).
    leaves_on: date | None = None
    removed: bool = False
    #: The other accepted participants whose annual share changed.
    share_changes: tuple[ShareChange, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class TrueUpState:
    """One participant's year-end settlement as booked (net cents): final amount, advances, difference."""

    member_id: int
    final_cents: int
    advances_cents: int
    #: final − advances: positive is charged, negative credited.
    difference_cents: int
    #: The final invoice or credit note (none when the advances matched the final amount exactly).
    invoice_id: int | None
    invoice_number: str = ""
    #: What the document asks to pay (final invoice) or credits (credit note), gross.
    invoice_amount_cents: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class CostSharingTruedUp(Event):
    """A plan's year-end true-up (Spitzabrechnung) was booked: the final documents are issued."""

    plan_id: int
    provider_id: int
    service_title: str
    year: int
    period: str
    actual_cost_cents: int
    entries: tuple[TrueUpState, ...]
    actor_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UserInvited(Event):
    """A person was invited; `token` is the one-time link token (in process only: never log it)."""

    user_id: int
    member_id: int
    inviter_id: int
    token: str = ""

    def __repr__(self) -> str:  # the token must not end up in a log line or a traceback
        return f"UserInvited(user_id={self.user_id}, member_id={self.member_id}, inviter_id={self.inviter_id})"


@dataclass(frozen=True, kw_only=True, slots=True)
class PasswordResetRequested(Event):
    """An active user asked for a new password; `token` as in `UserInvited`."""

    user_id: int
    token: str = ""

    def __repr__(self) -> str:
        return f"PasswordResetRequested(user_id={self.user_id})"
