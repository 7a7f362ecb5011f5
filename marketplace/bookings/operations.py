"""Writes on bookings: request, decide, withdraw, cancel, the transitions by date (recorded by the daily
job and the billing run, never by a page view), usage of metered services and its review, messages.
Every function flushes; the caller commits.

Accepting locks the service row first (then the booking), so that concurrent accepts against one
capacity queue up and the capacity is never exceeded.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update

from marketplace.bookings.costs import MonthShare, pro_rata_months, terms_of
from marketplace.bookings.models import (
    BILLABLE_STATUSES,
    COMMITTED_STATUSES,
    MAX_BOOKING_QUANTITY,
    MAX_USAGE_QUANTITY,
    REFERENCE_FIELDS,
    USAGE_QUANTITY_PLACES,
    USAGE_REVIEW_DAYS,
    Booking,
    BookingEvent,
    BookingMessage,
    BookingStatus,
    UsageRecord,
    UsageState,
    UsageStatus,
    effective_status,
    review_until,
    usage_state,
)
from marketplace.catalogue.models import Service, ServiceStatus, exemption_of
from marketplace.catalogue.queries import current_price_version
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.events import (
    BookingAccepted,
    BookingActivated,
    BookingCancelled,
    BookingChanged,
    BookingDeclined,
    BookingEnded,
    BookingMessagePosted,
    BookingRequested,
    BookingsAdvancedByDate,
    BookingWithdrawn,
    UsageChanged,
    UsageConfirmed,
    UsageDisputed,
    UsageRecorded,
    announce,
)
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.money import MAX_CHARGE_CENTS, AmountError, charge_cents, format_eur, parse_api_decimal, vat_cents
from marketplace.core.timeutil import month_bounds, parse_period, today, utcnow
from marketplace.extensions import db
from marketplace.members.invoice_profiles import invoice_profile_of, reference_problem
from marketplace.members.models import InvoiceReference, Role, User

MAX_QUANTITY = MAX_BOOKING_QUANTITY
MAX_NOTE = 2_000
MAX_MESSAGE = 5_000
MAX_USAGE = MAX_USAGE_QUANTITY


@dataclass
class BookingRequest:
    service_id: int
    quantity: int
    starts_on: date
    ends_on: date | None = None
    note: str = ""
    #: The invoice references by field name (``order_reference`` …); a missing or blank one takes the
    #: default of the buyer's invoice profile.
    references: dict[str, str | None] = field(default_factory=dict)


def _missing_references(names: list[str]) -> dict[str, list[str]]:
    """The message of each required reference left empty (in the user's language), per field."""
    every = InvalidInput(
        "Eine Pflichtangabe für die Rechnung fehlt.",
        errors={
            InvoiceReference.ORDER.value: [
                "Ihre Stelle verlangt auf jeder Rechnung eine Bestellnummer; bitte angeben."
            ],
            InvoiceReference.CONTRACT.value: [
                "Ihre Stelle verlangt auf jeder Rechnung eine Vertragsnummer; bitte angeben."
            ],
            InvoiceReference.BUYER_ACCOUNTING.value: [
                "Ihre Stelle verlangt auf jeder Rechnung eine Kostenstelle oder Buchungsreferenz; bitte angeben."
            ],
            InvoiceReference.PROJECT.value: [
                "Ihre Stelle verlangt auf jeder Rechnung eine Projekt- oder Mittelbindungsnummer; bitte angeben."
            ],
        },
    ).errors
    return {name: every[name] for name in names}


def _reference_errors(buyer_id: int, references: dict[str, str]) -> dict[str, list[str]]:
    """Per field: a reference that is too long or holds control characters, or a required one that is empty."""
    errors: dict[str, list[str]] = {}
    for name, value in references.items():
        if problem := reference_problem(value):
            errors[name] = [problem]
    required = invoice_profile_of(buyer_id).required_references
    missing = [r.value for r in required if not references.get(r.value) and r.value not in errors]
    return errors | _missing_references(missing)


def _with_defaults(buyer_id: int, given: dict[str, str | None]) -> dict[str, str]:
    profile = invoice_profile_of(buyer_id)
    return {
        name: (given.get(name) or "").strip() or profile.default(InvoiceReference(name)) for name in REFERENCE_FIELDS
    }


#: The event each status change announces.
_EVENTS: dict[BookingStatus, type[BookingChanged]] = {
    BookingStatus.REQUESTED: BookingRequested,
    BookingStatus.ACCEPTED: BookingAccepted,
    BookingStatus.DECLINED: BookingDeclined,
    BookingStatus.WITHDRAWN: BookingWithdrawn,
    BookingStatus.ACTIVE: BookingActivated,
    BookingStatus.ENDED: BookingEnded,
    BookingStatus.CANCELLED: BookingCancelled,
}

U = TypeVar("U", bound=UsageChanged)


def _booking_event(booking: Booking, actor: User | None, note: str = "") -> BookingChanged:
    """The event of the booking's latest status change, with the booking as it is now."""
    kind = _EVENTS[booking.status]
    extra: dict[str, Any] = {"reason": note} if kind in (BookingDeclined, BookingCancelled) else {}
    service = booking.service
    return kind(
        booking_id=booking.id,
        status=booking.status.value,
        service_id=booking.service_id,
        service_title=service.title,
        buyer_id=booking.buyer_id,
        provider_id=service.provider_id,
        quantity=booking.quantity,
        starts_on=booking.starts_on,
        ends_on=booking.ends_on,
        unit_price_cents=booking.unit_price_cents,
        actor_id=actor.id if actor is not None else None,
        actor_member_id=actor.member_id if actor is not None else None,
        **extra,
    )


def _usage_event(kind: type[U], record: UsageRecord, actor: User, **extra: Any) -> U:
    booking = record.booking
    return kind(
        record_id=record.id,
        booking_id=record.booking_id,
        period=record.period,
        quantity=record.quantity,
        status=record.status.value,
        service_title=booking.service.title,
        buyer_id=booking.buyer_id,
        provider_id=booking.service.provider_id,
        actor_id=actor.id,
        **extra,
    )


def _transition(booking: Booking, to: BookingStatus, actor: User | None, note: str = "") -> BookingChanged:
    """Move the booking along the transition table and record who did it (None: the system, by date).

    Returns the event to announce once the caller has flushed: the booking as it is right after this
    transition (a later transition in the same transaction does not change it)."""
    if not booking.may_become(to):
        raise Conflict(
            "Die Buchung %(booking)s ist „%(status)s“ und kann nicht „%(to)s“ werden.",
            booking=booking.id,
            status=booking.status.value,
            to=to.value,
        )
    db.session.add(
        BookingEvent(
            booking=booking,
            from_status=booking.status,
            to_status=to,
            actor_id=actor.id if actor is not None else None,
            note=note,
        )
    )
    booking.status = to
    return _booking_event(booking, actor, note)


def request_booking(actor: User, data: BookingRequest) -> Booking:
    """A buyer asks for a published service. Raises InvalidInput, NotFound or PermissionDenied."""
    errors: dict[str, list[str]] = {}
    if not (1 <= data.quantity <= MAX_QUANTITY):
        errors["quantity"] = [f"Die Menge ist eine ganze Zahl von 1 bis {MAX_QUANTITY}."]
    if data.starts_on < today():
        errors["starts_on"] = ["Der Beginn darf nicht in der Vergangenheit liegen."]
    if data.ends_on is not None and data.ends_on < data.starts_on:
        errors["ends_on"] = ["Das Ende darf nicht vor dem Beginn liegen."]
    if len(data.note or "") > MAX_NOTE:
        errors["note"] = [f"Die Nachricht hat höchstens {MAX_NOTE} Zeichen."]
    references = _with_defaults(actor.member_id, data.references)
    errors.update(_reference_errors(actor.member_id, references))
    if errors:
        raise InvalidInput("Die Anfrage ist unvollständig oder ungültig.", errors=errors)
    service = db.session.get(Service, data.service_id)
    if service is None or (service.status is not ServiceStatus.PUBLISHED and service.provider_id != actor.member_id):
        raise NotFound("Diese Leistung gibt es nicht.")
    if Role.BUYER not in actor.roles:
        raise PermissionDenied("Nur Einkäuferinnen und Einkäufer können Leistungen anfragen.")
    if service.provider_id == actor.member_id:
        raise Conflict("Eigene Leistungen können nicht gebucht werden.")
    if service.status is not ServiceStatus.PUBLISHED:
        raise Conflict("Diese Leistung ist derzeit nicht buchbar.")
    booking = Booking(
        service_id=service.id,
        buyer_id=actor.member_id,
        requested_by_id=actor.id,
        quantity=data.quantity,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        note=(data.note or "").strip(),
        status=BookingStatus.REQUESTED,
        **references,
    )
    db.session.add(booking)
    db.session.flush()
    db.session.add(
        BookingEvent(booking=booking, from_status=None, to_status=BookingStatus.REQUESTED, actor_id=actor.id)
    )
    db.session.flush()
    announce(_booking_event(booking, actor))
    return booking


def update_booking_references(actor: User, booking: Booking, changes: dict[str, str]) -> Booking:
    """The buyer changes the invoice references of a booking (only the fields in `changes`; blank clears).

    Raises PermissionDenied (not the buyer's staff or finance), InvalidInput naming the field (too long,
    control characters, required by the buyer's invoice profile and empty), or Conflict once a charge of the
    booking is invoiced: issued invoices carry its references and never change.
    """
    if not booking.can_edit_references(actor):
        raise PermissionDenied("Die Rechnungsreferenzen pflegt die abnehmende Stelle.")
    unknown = sorted(set(changes) - set(REFERENCE_FIELDS))
    if unknown:
        raise InvalidInput("Unbekannte Referenz.", errors={name: ["Diese Referenz gibt es nicht."] for name in unknown})
    booking = db.session.scalar(locked(select(Booking).where(Booking.id == booking.id), Booking))
    assert booking is not None  # noqa: S101 - rows cannot vanish (no deletes)
    if booking.invoiced_at is not None:
        raise Conflict(
            "Die Buchung %(booking)s ist bereits in Rechnung gestellt; ihre Referenzen stehen auf ausgestellten "
            "Rechnungen und lassen sich nicht mehr ändern.",
            booking=booking.id,
        )
    before = booking.references()
    after = before | {name: (value or "").strip() for name, value in changes.items()}
    errors = _reference_errors(booking.buyer_id, after)
    if errors:
        raise InvalidInput("Die Rechnungsreferenzen sind unvollständig oder ungültig.", errors=errors)
    for name, value in after.items():
        setattr(booking, name, value)
    db.session.flush()
    if after != before:
        record_audit(
            actor, "booking.references", booking, member_id=actor.member_id, data={"before": before, "after": after}
        )
    return booking


def committed_quantity(service_id: int, starts_on: date, ends_on: date | None, exclude_id: int) -> int:
    """Units of the service held by accepted or active bookings that overlap [starts_on, ends_on]."""
    statement = select(func.coalesce(func.sum(Booking.quantity), 0)).where(
        Booking.service_id == service_id,
        # a cancelled booking still holds its units until its (effective) end date
        or_(Booking.status.in_(COMMITTED_STATUSES), Booking.status == BookingStatus.CANCELLED),
        Booking.id != exclude_id,
        or_(Booking.ends_on.is_(None), Booking.ends_on >= starts_on),
    )
    if ends_on is not None:
        statement = statement.where(Booking.starts_on <= ends_on)
    return int(db.session.scalar(statement) or 0)


def _lock_for_decision(booking: Booking) -> tuple[Service, Booking]:
    service = db.session.scalar(locked(select(Service).where(Service.id == booking.service_id), Service))
    fresh = db.session.scalar(locked(select(Booking).where(Booking.id == booking.id), Booking))
    assert service is not None and fresh is not None  # noqa: S101 - rows cannot vanish (no deletes)
    return service, fresh


def accept_booking(actor: User, booking: Booking) -> Booking:
    """The provider accepts: capacity is checked under the service lock and the price is snapshotted.

    Raises PermissionDenied, or Conflict when the state forbids it or the capacity is full.
    """
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Anfrage annehmen.")
    service, booking = _lock_for_decision(booking)
    if not booking.may_become(BookingStatus.ACCEPTED):
        raise Conflict(
            "Die Buchung %(booking)s ist „%(status)s“ und kann nicht angenommen werden.",
            booking=booking.id,
            status=booking.status.value,
        )
    if service.capacity is not None:
        held = committed_quantity(service.id, booking.starts_on, booking.ends_on, booking.id)
        if held + booking.quantity > service.capacity:
            raise Conflict(
                "Die Kapazität reicht nicht: %(capacity)s Einheiten, davon %(held)s belegt, angefragt %(quantity)s.",
                capacity=service.capacity,
                held=held,
                quantity=booking.quantity,
            )
    version = current_price_version(service.id)
    booking.unit_price_cents = version.unit_price_cents if version is not None else service.unit_price_cents
    booking.unit = service.unit
    booking.vat_category = service.vat_category
    booking.vat_rate = service.vat_rate
    booking.vat_exemption_code, booking.vat_exemption_reason = exemption_of(
        service.vat_category, service.vatex_code, service.tax_legal_basis
    ) or (None, None)
    booking.price_version_id = version.id if version is not None else None
    booking.minimum_term_months = service.minimum_term_months
    booking.notice_period_days = service.notice_period_days
    booking.accepted_at = utcnow()
    accepted = _transition(booking, BookingStatus.ACCEPTED, actor)
    db.session.flush()
    announce(accepted)
    return booking


def decline_booking(actor: User, booking: Booking, reason: str = "") -> Booking:
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Anfrage ablehnen.")
    if len(reason or "") > MAX_NOTE:
        raise InvalidInput.field("reason", "Der Grund hat höchstens %(max_note)s Zeichen.", max_note=MAX_NOTE)
    _service, booking = _lock_for_decision(booking)
    declined = _transition(booking, BookingStatus.DECLINED, actor, note=(reason or "").strip())
    db.session.flush()
    announce(declined)
    return booking


def withdraw_booking(actor: User, booking: Booking) -> Booking:
    if not booking.can_withdraw(actor):
        raise PermissionDenied("Nur die anfragende Stelle kann die Anfrage zurückziehen.")
    _service, booking = _lock_for_decision(booking)
    withdrawn = _transition(booking, BookingStatus.WITHDRAWN, actor)
    db.session.flush()
    announce(withdrawn)
    return booking


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day where it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def minimum_term_end(booking: Booking) -> date | None:
    """The last day of the minimum term, or None when the booking has none."""
    if not booking.minimum_term_months:
        return None
    return add_months(booking.starts_on, booking.minimum_term_months) - timedelta(days=1)


def earliest_cancellation(booking: Booking) -> date:
    """The earliest last day of a booking cancelled today (notice period and minimum term), never before its
    start: a booking whose notice runs out before it begins can be called off at no cost instead
    (`cancels_before_start`)."""
    earliest = today() + timedelta(days=booking.notice_period_days or 0)
    term_end = minimum_term_end(booking)
    if term_end is not None:
        earliest = max(earliest, term_end)
    return max(earliest, booking.starts_on)


def cancels_before_start(booking: Booking) -> bool:
    """Whether a cancellation made today may still call the booking off before its first day (nothing is
    charged then): the notice period ends before the start and there is no minimum term."""
    notice_end = today() + timedelta(days=booking.notice_period_days or 0)
    return notice_end < booking.starts_on and minimum_term_end(booking) is None


def _fmt(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def _cancellation_end(booking: Booking, ends_on: date | None) -> date:
    """The last billed day a cancellation to `ends_on` (None: as early as possible) gives the booking; the
    day before its start when it is called off before it began. Conflict when the date falls inside the
    notice period or the minimum term, or the booking ends earlier anyway."""
    notice_end = today() + timedelta(days=booking.notice_period_days or 0)
    term_end = minimum_term_end(booking)
    effective = ends_on or notice_end
    if effective < notice_end:
        raise Conflict(
            "Die Kündigungsfrist beträgt %(notice_period_days)s Tage: die Buchung kann frühestens zum "
            "%(notice_end)s enden.",
            notice_period_days=booking.notice_period_days,
            notice_end=_fmt(max(notice_end, booking.starts_on)),
        )
    if term_end is not None and effective < term_end:
        raise Conflict(
            "Die Kündigung fällt in die Mindestlaufzeit von %(minimum_term_months)s Monaten: die "
            "Buchung kann frühestens zum %(term_end)s enden.",
            minimum_term_months=booking.minimum_term_months,
            term_end=_fmt(term_end),
        )
    if booking.ends_on is not None and effective >= booking.ends_on:
        raise Conflict("Die Buchung endet ohnehin am %(ends_on)s.", ends_on=_fmt(booking.ends_on))
    if effective < booking.starts_on:
        # cancelled before it began: it ends the day before its start, so no day is billed
        effective = booking.starts_on - timedelta(days=1)
    return effective


@dataclass(frozen=True)
class CancellationPreview:
    """What a cancellation to a date means, shown before the user confirms it: the last day, whether the
    booking is called off before it began, and the months still to be charged (net pro rata, and VAT)."""

    ends_on: date
    before_start: bool
    recurring: bool
    months: list[MonthShare]
    net_cents: int
    vat_cents: int

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.vat_cents


def preview_cancellation(
    actor: User, booking: Booking, ends_on: date | None = None, charged: Collection[str] = ()
) -> CancellationPreview:
    """The consequence of `cancel_booking(actor, booking, ends_on=ends_on)` without doing it: the same checks
    (PermissionDenied, Conflict), then the months up to the new end that are not in `charged` (the months
    the ledger charged already, which the caller reads: bookings does not ask the ledger)."""
    if not booking.can_cancel(actor):
        raise PermissionDenied("Nur die Einkäufer der abnehmenden Stelle oder der Anbieter können kündigen.")
    if effective_status(booking, today()) not in COMMITTED_STATUSES:
        raise Conflict(
            "Die Buchung %(booking)s ist „%(status)s“ und kann nicht gekündigt werden.",
            booking=booking.id,
            status=effective_status(booking, today()).value,
        )
    effective = _cancellation_end(booking, ends_on)
    before_start = effective < booking.starts_on
    terms = terms_of(booking)
    months: list[MonthShare] = []
    if terms.unit.recurring and not before_start:
        months = [m for m in pro_rata_months(booking, booking.starts_on, effective) if m.period not in charged]
    net = sum(m.net_cents for m in months)
    return CancellationPreview(
        effective, before_start, terms.unit.recurring, months, net, vat_cents(net, terms.vat_rate)
    )


def cancel_booking(actor: User, booking: Booking, reason: str = "", *, ends_on: date | None = None) -> Booking:
    """Either party cancels an accepted or active booking; `ends_on` becomes the effective end date.

    Without `ends_on` the booking ends as early as the notice period allows. Raises PermissionDenied,
    InvalidInput (reason too long), or Conflict when the state forbids it, the date falls inside the
    notice period or the minimum term, or the booking ends earlier anyway.
    """
    if not booking.can_cancel(actor):
        raise PermissionDenied("Nur die Einkäufer der abnehmenden Stelle oder der Anbieter können kündigen.")
    reason = (reason or "").strip()
    if len(reason) > MAX_NOTE:
        raise InvalidInput.field("reason", "Der Grund hat höchstens %(max_note)s Zeichen.", max_note=MAX_NOTE)
    _service, booking = _lock_for_decision(booking)
    # the history shows what the dates did before the cancellation (e.g. accepted -> active -> cancelled)
    happened = _catch_up(booking, today())
    if booking.status not in COMMITTED_STATUSES:
        raise Conflict(
            "Die Buchung %(booking)s ist „%(status)s“ und kann nicht gekündigt werden.",
            booking=booking.id,
            status=booking.status.value,
        )
    before = {"status": booking.status.value, "ends_on": booking.ends_on.isoformat() if booking.ends_on else None}
    effective = _cancellation_end(booking, ends_on)
    booking.ends_on = effective
    booking.cancelled_at = utcnow()
    happened.append(_transition(booking, BookingStatus.CANCELLED, actor, note=reason))
    db.session.flush()
    record_audit(
        actor,
        "booking.cancelled",
        booking,
        member_id=actor.member_id,
        data={"before": before, "after": {"status": booking.status.value, "ends_on": effective.isoformat()}},
    )
    for event in happened:
        announce(event)
    return booking


@dataclass(frozen=True)
class Advanced:
    """The bookings that one transition by date moved, in one statement (ascending ids)."""

    from_status: BookingStatus
    to_status: BookingStatus
    booking_ids: list[int]


def _due_by_date(day: date) -> list[tuple[BookingStatus, BookingStatus, ColumnElement[bool]]]:
    """The transitions the calendar makes by `day`, in the order they are recorded: a booking that started
    and ended before `day` goes accepted -> active first, then active -> ended (as `_catch_up` does one by
    one, and as `effective_status` shows it)."""
    return [
        (BookingStatus.ACCEPTED, BookingStatus.ACTIVE, Booking.starts_on <= day),
        (BookingStatus.ACTIVE, BookingStatus.ENDED, and_(Booking.ends_on.is_not(None), Booking.ends_on < day)),
    ]


#: History rows per multi-row insert.
_EVENT_BATCH = 10_000


def advance_bookings(day: date) -> list[Advanced]:
    """Record the transitions the dates have made by `day`, set-based: per transition one UPDATE of every
    due booking (its rows locked in ascending id order, so two runs queue up instead of deadlocking) and
    its `BookingEvent` history rows in multi-row inserts, without an acting user (the system, by date).

    Returns one `Advanced` per transition, also when it moved nothing; each is announced once
    (`BookingsAdvancedByDate`). What `effective_status` shows, this records: accepted -> active from the start date,
    accepted or active -> ended after the last booked day. Idempotent: a second run on the same day finds
    nothing to do.
    """
    now = utcnow()
    batches: list[Advanced] = []
    for from_status, to_status, due in _due_by_date(day):
        # lock first, in id order (a concurrent cancel or run holds some of them: wait, then re-check)
        locked_ids = locked(select(Booking.id).where(Booking.status == from_status, due).order_by(Booking.id))
        moved = db.session.scalars(
            update(Booking)
            .where(Booking.id.in_(locked_ids), Booking.status == from_status)
            .values(status=to_status)
            .returning(Booking.id)
            # objects this session holds of the moved rows get the new status too
            .execution_options(synchronize_session="fetch")
        ).all()
        ids = sorted(moved)
        for start in range(0, len(ids), _EVENT_BATCH):
            db.session.execute(
                insert(BookingEvent.__table__),
                [
                    {
                        "booking_id": booking_id,
                        "from_status": from_status,
                        "to_status": to_status,
                        "actor_id": None,
                        "at": now,
                        "note": "",
                    }
                    for booking_id in ids[start : start + _EVENT_BATCH]
                ],
            )
        batch = Advanced(from_status, to_status, ids)
        _announce(batch)
        batches.append(batch)
    return batches


def _announce(batch: Advanced) -> None:
    """One event per transition and run, however many bookings it moved (a subscriber that needs the
    bookings reads those of its interest in one query)."""
    if batch.booking_ids:
        announce(
            BookingsAdvancedByDate(
                from_status=batch.from_status.value,
                to_status=batch.to_status.value,
                booking_ids=tuple(batch.booking_ids),
            )
        )


def advance_booking_statuses(day: date) -> int:
    """Record the transitions the dates have made by `day` (see `advance_bookings`); returns how many.

    Run daily by `flask bookings advance` and at the start of every billing run; pages never call it, they
    show `effective_status` instead.
    """
    return sum(len(batch.booking_ids) for batch in advance_bookings(day))


def _catch_up(booking: Booking, day: date) -> list[BookingChanged]:
    """Record the transitions by date that `effective_status` says have happened; returns their events
    (to announce after the flush)."""
    target = effective_status(booking, day)
    happened = []
    if booking.status is BookingStatus.ACCEPTED and target is not BookingStatus.ACCEPTED:
        happened.append(_transition(booking, BookingStatus.ACTIVE, None))
    if booking.status is BookingStatus.ACTIVE and target is BookingStatus.ENDED:
        happened.append(_transition(booking, BookingStatus.ENDED, None))
    return happened


def _lock_usage(booking_id: int, period: str) -> UsageRecord | None:
    """The month's usage record of the booking, read under its row lock (fresh: a billing run may have
    stamped its charge while this request waited)."""
    return db.session.scalar(
        locked(select(UsageRecord).where(UsageRecord.booking_id == booking_id, UsageRecord.period == period))
    )


def _usage_quantity(quantity: object) -> Decimal:
    """The entered quantity as a Decimal: as the form's or the API's parser gave it (both refuse other scripts'
    digits, underscores, exponents and ``-0``), an int, or technical text like ``"12.5"``."""
    if isinstance(quantity, Decimal):
        value = quantity
    elif isinstance(quantity, int) and not isinstance(quantity, bool):
        value = Decimal(quantity)
    else:
        try:
            value = parse_api_decimal(str(quantity).strip(), 30, signed=True)
        except AmountError:
            raise InvalidInput.field("quantity", "Bitte die Menge als Zahl angeben, z. B. 12,5.") from None
    if not value.is_finite() or (value == 0 and value.is_signed()):  # NaN, infinity, "-0"
        raise InvalidInput.field("quantity", "Bitte die Menge als Zahl angeben, z. B. 12,5.")
    if value < 0 or value > MAX_USAGE_QUANTITY:
        raise InvalidInput.field("quantity", "Die Menge muss zwischen 0 und 10.000.000.000 liegen.")
    if value.as_tuple().exponent < -USAGE_QUANTITY_PLACES:  # type: ignore[operator]
        raise InvalidInput.field("quantity", "Die Menge hat höchstens drei Nachkommastellen.")
    return value


def _check_chargeable(booking: Booking, quantity: Decimal) -> None:
    """Refuse a quantity whose charge (quantity × the booking's unit price) no ledger amount can hold."""
    if booking.unit_price_cents is None:
        return
    if charge_cents(booking.unit_price_cents, quantity) > MAX_CHARGE_CENTS:
        raise InvalidInput.field(
            "quantity",
            "Menge mal Preis je Einheit ergibt mehr als %(max_charge_cents)s für einen Monat; bitte die Menge prüfen.",
            max_charge_cents=format_eur(MAX_CHARGE_CENTS),
        )


def record_usage(actor: User, booking: Booking, period: str, quantity: Decimal) -> UsageRecord:
    """The provider enters the delivered quantity of a metered booking for one month.

    Re-entering a month corrects it (a disputed record becomes `entered` again). Raises PermissionDenied,
    InvalidInput naming `period` (malformed, in the future, outside the booking) or `quantity`, or Conflict
    (recurring service, booking not accepted, usage already confirmed or billed).
    """
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter erfasst den Verbrauch.")
    if booking.status not in BILLABLE_STATUSES or booking.unit is None:
        raise Conflict(
            "Die Buchung %(booking)s ist „%(status)s“: Verbrauch gibt es erst nach Annahme.",
            booking=booking.id,
            status=booking.status.value,
        )
    if booking.unit.recurring:
        raise Conflict("Diese Leistung wird monatlich anteilig abgerechnet; Verbrauch wird nicht erfasst.")
    try:
        first = parse_period(period)
    except ValueError:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11.") from None
    if first > today().replace(day=1):
        raise InvalidInput.field("period", "Der Monat %(period)s liegt in der Zukunft.", period=period)
    last = month_bounds(first)[1]
    if last < booking.starts_on or (booking.ends_on is not None and first > booking.ends_on):
        until = _fmt(booking.ends_on) if booking.ends_on else "unbefristet"
        raise InvalidInput.field(
            "period",
            "Der Monat %(period)s liegt außerhalb der Buchung (%(starts_on)s bis %(until)s).",
            period=period,
            starts_on=_fmt(booking.starts_on),
            until=until,
        )
    value = _usage_quantity(quantity)
    _check_chargeable(booking, value)
    record = _lock_usage(booking.id, period)
    if record is not None and record.is_billed:
        raise Conflict(
            "Der Verbrauch für %(period)s ist bereits abgerechnet und kann nicht mehr geändert werden.", period=period
        )
    before = None
    previous_status = None
    if record is None:
        record = UsageRecord(booking=booking, period=period, quantity=value, created_by_id=actor.id)
        db.session.add(record)
    else:
        if record.status is UsageStatus.CONFIRMED:
            raise Conflict("Der Verbrauch für %(period)s ist von der abnehmenden Stelle bestätigt.", period=period)
        before = {"quantity": str(record.quantity), "status": record.status.value}
        previous_status = record.status.value
        if record.status is UsageStatus.DISPUTED:
            record.corrected_at = utcnow()
        record.quantity = value
        record.created_by_id = actor.id
    record.status = UsageStatus.ENTERED
    record.entered_at = utcnow()
    record.reviewed_at = None
    record.reviewed_by_id = None
    record.dispute_reason = ""
    db.session.flush()
    record_audit(
        actor,
        "usage.entered",
        record,
        member_id=actor.member_id,
        data={"booking_id": booking.id, "period": period, "before": before, "after": {"quantity": str(value)}},
    )
    announce(_usage_event(UsageRecorded, record, actor, previous_status=previous_status))
    return record


def review_deadline(record: UsageRecord) -> date:
    """The last day on which the buyer may confirm or dispute the record."""
    return review_until(record)


def _review(actor: User, record: UsageRecord) -> UsageRecord:
    """The record, locked and read afresh, if the buyer may still answer it; else PermissionDenied or
    Conflict (billed, or its review period over)."""
    if not record.booking.can_review_usage(actor):
        raise PermissionDenied("Nur die Einkäufer der abnehmenden Stelle prüfen den Verbrauch.")
    fresh = _lock_usage(record.booking_id, record.period)
    if fresh is None:
        raise NotFound("Diesen Verbrauch gibt es nicht.")
    if fresh.is_billed:
        # A billed record is corrected through a correction case (issue 13, branch corrections); until that
        # exists, say so plainly.
        raise Conflict(
            "Der Verbrauch für %(period)s ist bereits abgerechnet; Einwände dagegen klärt der Betreiber "
            "über eine Korrektur (Storno und neue Berechnung).",
            period=fresh.period,
        )
    if usage_state(fresh, today()) is UsageState.DEEMED_ACCEPTED:
        raise Conflict(
            "Die Prüffrist von %(usage_review_days)s Tagen ist am %(review_deadline)s abgelaufen.",
            usage_review_days=USAGE_REVIEW_DAYS,
            review_deadline=_fmt(review_deadline(fresh)),
        )
    return fresh


def confirm_usage(actor: User, record: UsageRecord) -> UsageRecord:
    """The buyer confirms a month's usage within its review period (also withdrawing an earlier dispute)."""
    record = _review(actor, record)
    if record.status is UsageStatus.CONFIRMED:
        raise Conflict("Der Verbrauch für %(period)s ist bereits bestätigt.", period=record.period)
    before = record.status.value
    record.status = UsageStatus.CONFIRMED
    record.reviewed_at = utcnow()
    record.reviewed_by_id = actor.id
    db.session.flush()
    record_audit(
        actor, "usage.confirmed", record, member_id=actor.member_id, data={"before": before, "after": "confirmed"}
    )
    announce(_usage_event(UsageConfirmed, record, actor))
    return record


def dispute_usage(actor: User, record: UsageRecord, reason: str) -> UsageRecord:
    """The buyer disputes a month's usage within 14 days; it is not billed until the provider corrects it.

    Raises InvalidInput naming `reason`, Conflict (already answered, billed, or review period over)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.field("reason", "Bitte begründen Sie den Einspruch.")
    if len(reason) > MAX_NOTE:
        raise InvalidInput.field("reason", "Die Begründung hat höchstens %(max_note)s Zeichen.", max_note=MAX_NOTE)
    record = _review(actor, record)
    if record.status is not UsageStatus.ENTERED:
        raise Conflict(
            "Der Verbrauch für %(period)s ist „%(status)s“ und kann nicht bestritten werden.",
            period=record.period,
            status=record.status.value,
        )
    record.status = UsageStatus.DISPUTED
    record.dispute_reason = reason
    record.reviewed_at = utcnow()
    record.reviewed_by_id = actor.id
    db.session.flush()
    record_audit(
        actor, "usage.disputed", record, member_id=actor.member_id, data={"before": "entered", "reason": reason}
    )
    announce(_usage_event(UsageDisputed, record, actor, reason=reason))
    return record


def mark_usage_billed(charges: dict[int, int]) -> None:
    """Stamp usage records with the charge that billed them: `charges` maps usage record id to transfer id.

    Called by the billing run in the transaction that posted the charges (the system acts; no permission)."""
    if not charges:
        return
    now = utcnow()
    # ORM bulk UPDATE by primary key: one executemany however many records a run bills
    db.session.execute(
        update(UsageRecord),
        [
            {"id": usage_id, "charge_transfer_id": transfer_id, "billed_at": now}
            for usage_id, transfer_id in charges.items()
        ],
    )
    db.session.flush()


def mark_usage_credited(charge_transfer_id: int) -> None:
    """The charge that billed a usage record was reversed: the record is credited (called by the reversal)."""
    db.session.execute(
        update(UsageRecord)
        .where(UsageRecord.charge_transfer_id == charge_transfer_id, UsageRecord.credited_at.is_(None))
        .values(credited_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()


def post_message(actor: User, booking: Booking, body: str) -> BookingMessage:
    """A message from either party on the booking. Raises PermissionDenied or InvalidInput."""
    if not booking.can_write_message(actor):
        raise PermissionDenied("Nachrichten schreiben nur Einkauf und Anbieter dieser Buchung.")
    body = (body or "").strip()
    if not body:
        raise InvalidInput.field("body", "Bitte eine Nachricht eingeben.")
    if len(body) > MAX_MESSAGE:
        raise InvalidInput.field(
            "body", "Die Nachricht hat höchstens %(max_message)s Zeichen.", max_message=MAX_MESSAGE
        )
    message = BookingMessage(booking_id=booking.id, author_id=actor.id, body=body)
    db.session.add(message)
    db.session.flush()
    record_audit(actor, "booking.message", message, member_id=actor.member_id, data={"booking_id": booking.id})
    announce(
        BookingMessagePosted(
            booking_id=booking.id,
            message_id=message.id,
            service_title=booking.service.title,
            buyer_id=booking.buyer_id,
            provider_id=booking.service.provider_id,
            author_id=actor.id,
            author_member_id=actor.member_id,
        )
    )
    return message
