"""The e-mails bookings send (queued in the outbox with the change that causes them)."""

from __future__ import annotations

from marketplace.bookings.models import Booking, UsageRecord
from marketplace.members.models import Role, User
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.operations import base_url, member_staff, notify


def _link(booking: Booking) -> str:
    return f"{base_url()}/bookings/{booking.id}"


def _provider_staff(booking: Booking) -> list[User]:
    return member_staff(booking.service.provider_id, Role.PROVIDER)


def _buyer_staff(booking: Booking) -> list[User]:
    return member_staff(booking.buyer_id, Role.BUYER)


def requested(booking: Booking) -> None:
    notify(
        _provider_staff(booking),
        NotificationKind.BOOKING_REQUESTED,
        f"Neue Anfrage: {booking.service.title}",
        f"{booking.buyer.name} fragt „{booking.service.title}“ an (Menge {booking.quantity}, "
        f"ab {booking.starts_on:%d.%m.%Y}). Bitte entscheiden Sie hier: {_link(booking)}",
    )


def decided(booking: Booking, accepted: bool, reason: str = "") -> None:
    verdict = "angenommen" if accepted else "abgelehnt"
    extra = f"\n\nBegründung: {reason}" if reason else ""
    notify(
        _buyer_staff(booking),
        NotificationKind.BOOKING_DECIDED,
        f"Anfrage {verdict}: {booking.service.title}",
        f"{booking.service.provider.name} hat Ihre Anfrage „{booking.service.title}“ {verdict}.{extra}\n\n"
        f"Zur Buchung: {_link(booking)}",
    )


def cancelled(booking: Booking, actor: User, reason: str) -> None:
    others = _buyer_staff(booking) if actor.member_id != booking.buyer_id else _provider_staff(booking)
    extra = f"\n\nGrund: {reason}" if reason else ""
    notify(
        others,
        NotificationKind.BOOKING_CANCELLED,
        f"Buchung gekündigt: {booking.service.title}",
        f"{actor.member.name} hat die Buchung „{booking.service.title}“ gekündigt. Sie endet am "
        f"{booking.ends_on:%d.%m.%Y}.{extra}\n\nZur Buchung: {_link(booking)}",
    )


def message_posted(booking: Booking, actor: User) -> None:
    others = _buyer_staff(booking) if actor.member_id != booking.buyer_id else _provider_staff(booking)
    notify(
        [u for u in others if u.id != actor.id],
        NotificationKind.BOOKING_MESSAGE,
        f"Neue Nachricht zu „{booking.service.title}“",
        f"{actor.name} ({actor.member.name}) hat eine Nachricht zur Buchung geschrieben: {_link(booking)}#verlauf",
    )


def usage_entered(record: UsageRecord) -> None:
    booking = record.booking
    notify(
        _buyer_staff(booking),
        NotificationKind.USAGE_ENTERED,
        f"Verbrauch {record.period} zu „{booking.service.title}“ gemeldet",
        f"{booking.service.provider.name} hat für {record.period} eine Menge von {record.quantity.normalize():f} "
        f"gemeldet. Bitte bestätigen oder bestreiten Sie sie innerhalb von 14 Tagen: {_link(booking)}#verbrauch",
    )


def usage_disputed(record: UsageRecord) -> None:
    booking = record.booking
    notify(
        _provider_staff(booking),
        NotificationKind.USAGE_DISPUTED,
        f"Verbrauch {record.period} bestritten: {booking.service.title}",
        f"{booking.buyer.name} bestreitet den Verbrauch für {record.period}: „{record.dispute_reason}“. "
        f"Bis zur Korrektur wird er nicht abgerechnet: {_link(booking)}#verbrauch",
    )
