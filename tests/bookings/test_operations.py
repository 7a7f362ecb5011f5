"""The operations the HTML pages and the API share: cancel, the date-driven transitions, usage and its review."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.bookings.models import BookingEvent, BookingStatus, UsageRecord, UsageStatus
from marketplace.bookings.operations import (
    advance_booking_statuses,
    cancel_booking,
    confirm_usage,
    dispute_usage,
    record_usage,
)
from marketplace.core.errors import Conflict, InvalidInput, PermissionDenied
from marketplace.extensions import db
from marketplace.monthend.billing import compute_charges

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


def test_cancel_without_terms_ends_today(make_booking, user):
    booking = make_booking()
    cancel_booking(user(BUYER), booking, "Bedarf entfallen")
    db.session.commit()
    assert booking.status is BookingStatus.CANCELLED
    assert booking.ends_on == date(2026, 11, 16)
    event = booking.events[-1]
    assert (event.from_status, event.to_status, event.note) == (
        BookingStatus.ACTIVE,  # it started today
        BookingStatus.CANCELLED,
        "Bedarf entfallen",
    )


def test_cancel_respects_notice_period(make_booking, user):
    booking = make_booking(notice_period_days=30)
    cancel_booking(user(PROVIDER), booking)
    assert booking.ends_on == date(2026, 12, 16)
    with pytest.raises(Conflict, match="Kündigungsfrist"):
        cancel_booking(user(BUYER), make_booking(notice_period_days=30), ends_on=date(2026, 12, 1))


def test_cancel_inside_minimum_term_is_refused_and_changes_nothing(make_booking, user):
    booking = make_booking(starts_on=date(2026, 11, 16), minimum_term_months=12)
    with pytest.raises(Conflict, match=r"Mindestlaufzeit.*15\.11\.2027"):
        cancel_booking(user(BUYER), booking)
    db.session.rollback()
    db.session.refresh(booking)
    assert booking.status is BookingStatus.ACCEPTED and booking.ends_on is None
    cancel_booking(user(BUYER), booking, ends_on=date(2027, 11, 15))
    assert booking.ends_on == date(2027, 11, 15)


def test_cancel_before_start_leaves_no_billable_day(make_booking, user):
    booking = make_booking(starts_on=date(2026, 12, 10))
    cancel_booking(user(BUYER), booking)
    assert booking.ends_on == date(2026, 12, 9)
    assert all(c.booking_id != booking.id for c in compute_charges("2026-12", date(2026, 12, 1)))


def test_only_parties_with_roles_cancel_and_only_committed_bookings(make_booking, user):
    booking = make_booking(accept=False)
    with pytest.raises(Conflict):
        cancel_booking(user(BUYER), booking)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        cancel_booking(user("kasse@wiesbaden.example"), make_booking())


def test_advance_moves_accepted_to_active_and_active_to_ended(make_booking, user):
    starting = make_booking(starts_on=date(2026, 11, 16))
    future = make_booking(starts_on=date(2026, 12, 1))
    assert advance_booking_statuses(date(2026, 11, 16)) >= 1
    db.session.commit()
    assert starting.status is BookingStatus.ACTIVE
    assert future.status is BookingStatus.ACCEPTED
    advance_booking_statuses(date(2027, 1, 1))
    assert future.status is BookingStatus.ACTIVE
    short = make_booking(starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 20))
    advance_booking_statuses(date(2026, 11, 21))
    assert short.status is BookingStatus.ENDED
    events = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == short.id)).all()
    assert [e.to_status for e in events][-2:] == [BookingStatus.ACTIVE, BookingStatus.ENDED]
    assert events[-1].actor_id is None


def test_advance_records_each_transition_once(make_booking):
    booking = make_booking(starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 20))
    assert advance_booking_statuses(date(2026, 11, 21)) >= 2  # accepted -> active -> ended in one run
    db.session.commit()
    count = select(func.count()).select_from(BookingEvent).where(BookingEvent.booking_id == booking.id)
    events = db.session.scalar(count)
    assert advance_booking_statuses(date(2026, 11, 21)) == 0
    assert advance_booking_statuses(date(2026, 11, 22)) == 0
    assert db.session.scalar(count) == events


@pytest.mark.parametrize("day", [date(2026, 11, 15), date(2026, 11, 16), date(2026, 11, 20), date(2026, 11, 21)])
def test_effective_status_agrees_with_its_filter_and_with_what_advance_records(make_booking, day):
    from marketplace.bookings.models import Booking, effective_status
    from marketplace.bookings.queries import effective_status_is

    make_booking(starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 20))
    make_booking(starts_on=date(2026, 11, 16))
    make_booking(starts_on=date(2026, 11, 21))
    make_booking(starts_on=date(2026, 12, 1), accept=False)
    make_booking(starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 30))  # demo-style: started earlier
    bookings = db.session.scalars(select(Booking)).all()
    shown = {b.id: effective_status(b, day) for b in bookings}
    for status in BookingStatus:
        matched = set(db.session.scalars(select(Booking.id).where(effective_status_is(status, day))))
        assert matched == {i for i, s in shown.items() if s is status}, status
    advance_booking_statuses(day)
    db.session.flush()
    assert {b.id: b.status for b in bookings} == shown


def test_cancel_records_the_start_the_dates_made_first(make_booking, user):
    booking = make_booking(starts_on=date(2026, 11, 16))  # accepted; starts today; the job has not run
    cancel_booking(user(BUYER), booking)
    assert [(e.from_status, e.to_status, e.actor_id is None) for e in booking.events[-2:]] == [
        (BookingStatus.ACCEPTED, BookingStatus.ACTIVE, True),
        (BookingStatus.ACTIVE, BookingStatus.CANCELLED, False),
    ]


def test_usage_is_recorded_corrected_confirmed_or_disputed(make_booking, user):
    booking = make_booking(title="Betrieb von Fachverfahren", starts_on=date(2026, 11, 16))
    record = record_usage(user(PROVIDER), booking, "2026-11", Decimal("7.5"))
    assert record.status is UsageStatus.ENTERED
    dispute_usage(user(BUYER), record, "Nur 5 Stunden vereinbart")
    db.session.commit()
    assert all(c.booking_id != booking.id for c in compute_charges("2026-11", date(2026, 11, 1)))
    record = record_usage(user(PROVIDER), booking, "2026-11", Decimal("5"))
    assert record.status is UsageStatus.ENTERED
    confirm_usage(user(BUYER), record)
    db.session.commit()
    charge = next(c for c in compute_charges("2026-11", date(2026, 11, 1)) if c.booking_id == booking.id)
    assert charge.cents == 47500
    with pytest.raises(Conflict, match="bestätigt"):
        record_usage(user(PROVIDER), booking, "2026-11", Decimal("6"))


@pytest.mark.parametrize(
    ("period", "quantity", "field"),
    [
        ("2026-10", "1", "period"),  # before the booking
        ("2026-12", "1", "period"),  # in the future
        ("11/2026", "1", "period"),
        ("2026-11", "-1", "quantity"),
        ("2026-11", "1.2345", "quantity"),
        ("2026-11", "99999999999", "quantity"),
        ("2026-11", "abc", "quantity"),
    ],
)
def test_bad_usage_names_the_field_and_writes_nothing(make_booking, user, period, quantity, field):
    booking = make_booking(title="Betrieb von Fachverfahren", starts_on=date(2026, 11, 16))
    with pytest.raises(InvalidInput) as error:
        record_usage(user(PROVIDER), booking, period, quantity)
    assert list(error.value.errors) == [field]
    db.session.rollback()
    assert db.session.scalar(select(UsageRecord).where(UsageRecord.booking_id == booking.id)) is None


def test_usage_of_recurring_service_or_by_buyer_is_refused(make_booking, user):
    with pytest.raises(Conflict):
        record_usage(user(PROVIDER), make_booking(), "2026-11", Decimal(1))
    with pytest.raises(PermissionDenied):
        record_usage(user(BUYER), make_booking(title="Betrieb von Fachverfahren"), "2026-11", Decimal(1))


def test_review_window_is_fourteen_days(make_booking, user, app):
    booking = make_booking(title="Betrieb von Fachverfahren", starts_on=date(2026, 11, 16))
    record = record_usage(user(PROVIDER), booking, "2026-11", Decimal(3))
    record.entered_at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # today is 2026-11-16
    with pytest.raises(Conflict, match="Prüffrist"):
        dispute_usage(user(BUYER), record, "zu viel")
    record.entered_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert dispute_usage(user(BUYER), record, "zu viel").status is UsageStatus.DISPUTED


def test_advance_command_records_the_transitions_once(app, make_booking):
    booking = make_booking(starts_on=date(2026, 11, 16))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bookings", "advance"])
    assert result.exit_code == 0, result.output
    assert "1 Statuswechsel" in result.output
    db.session.expire_all()
    assert booking.status is BookingStatus.ACTIVE
    assert [e.to_status for e in booking.events][-1] is BookingStatus.ACTIVE and booking.events[-1].actor_id is None
    again = runner.invoke(args=["bookings", "advance"])
    assert again.exit_code == 0 and "0 Statuswechsel" in again.output
    db.session.expire_all()
    assert [e.to_status for e in booking.events].count(BookingStatus.ACTIVE) == 1
    # the job's former name still works for cron entries written before
    assert "0 Statuswechsel" in runner.invoke(args=["bookings", "refresh"]).output
