"""The events module: subscribers are marked by `subscribe`, connected per application by `connect`, hear
their event and the events derived from it, in the order connected, inside the caller's transaction."""

from __future__ import annotations

from datetime import date

import pytest

from marketplace.core import events
from marketplace.core.events import (
    BookingAccepted,
    BookingChanged,
    BookingRequested,
    PeriodClosed,
    UserInvited,
    announce,
    connect,
    subscribe,
    subscribers_of,
)

HEARD: list[tuple[str, events.Event]] = []


@subscribe(BookingAccepted)
def _accepted(event: BookingAccepted) -> None:
    HEARD.append(("accepted", event))


@subscribe(BookingChanged)
def _any_booking(event: BookingChanged) -> None:
    HEARD.append(("any", event))


@subscribe(PeriodClosed)
def _failing(event: PeriodClosed) -> None:
    raise RuntimeError("subscriber failed")


def _booking(kind: type[BookingChanged] = BookingAccepted, status: str = "accepted") -> BookingChanged:
    return kind(
        booking_id=1,
        status=status,
        service_id=2,
        service_title="Server",
        buyer_id=3,
        provider_id=4,
        quantity=1,
        starts_on=date(2026, 12, 1),
        ends_on=None,
        unit_price_cents=12345,
        actor_id=5,
        actor_member_id=4,
    )


@pytest.fixture
def other_app(app):
    """A second application of the same process: it has the project's subscribers, not this test's."""
    from tests.conftest import make_app

    return make_app(app.config["SQLALCHEMY_DATABASE_URI"])


def test_connected_subscribers_hear_their_event_and_its_subclasses(app, other_app):
    HEARD.clear()
    connect(app, _accepted, _any_booking)
    connect(app, _accepted)  # twice is once
    accepted, requested = _booking(), _booking(BookingRequested, "requested")
    with app.app_context():
        announce(accepted)
        announce(requested)
    assert [("accepted", accepted), ("any", accepted), ("any", requested)] == HEARD
    HEARD.clear()
    with other_app.app_context():  # another application never connected these two
        announce(accepted)
    assert HEARD == []
    assert _accepted in subscribers_of(app, BookingAccepted)
    assert _accepted not in subscribers_of(other_app, BookingAccepted)


def test_a_failing_subscriber_fails_the_announcing_operation(app):
    connect(app, _failing)
    with pytest.raises(RuntimeError, match="subscriber failed"):
        announce(PeriodClosed(period="2026-10", actor_id=1))


def test_events_are_frozen_and_keyword_only():
    event = _booking()
    with pytest.raises((AttributeError, TypeError)):
        event.status = "ended"  # type: ignore[misc]
    with pytest.raises(TypeError):
        PeriodClosed("2026-10", 1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        subscribe(int)  # type: ignore[arg-type]


def test_a_one_time_token_stays_out_of_the_events_repr():
    assert "geheim" not in repr(UserInvited(user_id=1, member_id=2, inviter_id=3, token="geheim"))


def test_create_app_connects_the_mails_and_the_webhooks(app):
    from marketplace.notifications import notices
    from marketplace.webhooks import subscribers

    assert notices.booking_decided in subscribers_of(app, BookingAccepted)
    assert subscribers.booking_changed in subscribers_of(app, BookingAccepted)
    assert subscribers_of(app, PeriodClosed) == []  # nobody listens yet


def test_no_session_listener_drives_a_side_effect():
    """Side effects follow announced events; no SQLAlchemy session event is listened to (engine events of the
    database plumbing, e.g. SQLite's BEGIN IMMEDIATE, are another matter)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "marketplace"
    offenders = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in root.rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if ("listens_for(" in line or "event.listen(" in line) and "ession" in line
    ]
    assert offenders == []
