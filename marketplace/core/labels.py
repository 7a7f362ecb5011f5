"""Human labels (German, translated by Babel) for the enums shown in pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.bookings.models import BookingStatus
from marketplace.catalogue.forms import STATUS_LABELS, UNIT_SHORT, VAT_LABELS

BOOKING_STATUS_LABELS = {
    BookingStatus.REQUESTED: _l("Angefragt"),
    BookingStatus.ACCEPTED: _l("Angenommen"),
    BookingStatus.DECLINED: _l("Abgelehnt"),
    BookingStatus.WITHDRAWN: _l("Zurückgezogen"),
    BookingStatus.ACTIVE: _l("Laufend"),
    BookingStatus.ENDED: _l("Beendet"),
    BookingStatus.CANCELLED: _l("Gekündigt"),
}
BOOKING_STATUS_BADGES = {
    BookingStatus.REQUESTED: "info",
    BookingStatus.ACCEPTED: "success",
    BookingStatus.ACTIVE: "success",
    BookingStatus.DECLINED: "danger",
    BookingStatus.WITHDRAWN: "warning",
    BookingStatus.ENDED: "info",
    BookingStatus.CANCELLED: "warning",
}

LABELS = {
    "booking_status": BOOKING_STATUS_LABELS,
    "booking_badge": BOOKING_STATUS_BADGES,
    "service_status": STATUS_LABELS,
    "unit": UNIT_SHORT,
    "vat": VAT_LABELS,
}
