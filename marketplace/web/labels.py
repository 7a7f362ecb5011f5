"""Human labels (German, translated by Babel) for the enums shown in pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from marketplace.bookings.models import BookingStatus
from marketplace.catalogue.forms import STATUS_LABELS, VAT_LABELS
from marketplace.catalogue.models import Unit

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

#: Units after a price ("120,00 € je Monat") or a quantity. The context "unit" keeps them apart from the
#: same German words elsewhere ("Monat" heads the month columns: "Month"; as a unit it is "per month").
UNIT_SHORT = {
    Unit.MONTH: lazy_pgettext("unit", "Monat"),
    Unit.HOUR: lazy_pgettext("unit", "Stunde"),
    Unit.PIECE: lazy_pgettext("unit", "Stück"),
    Unit.GB_MONTH: lazy_pgettext("unit", "GB-Monat"),
    Unit.USER_MONTH: lazy_pgettext("unit", "Nutzer-Monat"),
}

#: How far a month's money has come (settlement.charges.DocumentState).
DOCUMENT_STATE_LABELS = {
    "billed": _l("Berechnet"),
    "invoiced": _l("Rechnung – Freigabe offen"),
    "objected": _l("Rechnung beanstandet"),
    "released": _l("Rechnung freigegeben"),
    "settled": _l("Verrechnet"),
    "paid": _l("Bezahlt"),
}
DOCUMENT_STATE_BADGES = {
    "billed": "info",
    "invoiced": "warning",
    "objected": "danger",
    "released": "success",
    "settled": "success",
    "paid": "success",
}

#: Payment means an invoice names (UNTDID 4461, XRechnung BT-81).
PAYMENT_MEANS_LABELS = {
    "97": _l("Verrechnung über die Leistungsbörse"),
    "59": _l("SEPA-Lastschrift durch den Betreiber"),
    "58": _l("SEPA-Überweisung"),
}

#: Units of invoice lines by their UN/ECE Rec. 20 code (settlement.lines.UNIT_CODES; C62 a lump sum).
UNIT_CODE_LABELS = {
    "MON": lazy_pgettext("unit", "Monat"),
    "HUR": lazy_pgettext("unit", "Stunde"),
    "H87": lazy_pgettext("unit", "Stück"),
    "E34": lazy_pgettext("unit", "GB-Monat"),
    "IE": lazy_pgettext("unit", "Nutzer-Monat"),
    "C62": _l("pauschal"),
}

LABELS = {
    "document_state": DOCUMENT_STATE_LABELS,
    "document_badge": DOCUMENT_STATE_BADGES,
    "booking_status": BOOKING_STATUS_LABELS,
    "booking_badge": BOOKING_STATUS_BADGES,
    "service_status": STATUS_LABELS,
    "unit": UNIT_SHORT,
    "vat": VAT_LABELS,
    "payment_means": PAYMENT_MEANS_LABELS,
    "unit_codes": UNIT_CODE_LABELS,
}
