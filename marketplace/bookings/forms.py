from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from marketplace.bookings.models import MAX_BOOKING_QUANTITY, USAGE_QUANTITY_PLACES
from marketplace.core.forms import DecimalField, Form, IntegerField, MonthField
from marketplace.members.models import MAX_REFERENCE


def _reference(label: object) -> StringField:
    """An invoice reference: one line of at most 100 characters; which ones are required, the buyer's invoice
    profile says (the operation checks it and names the field)."""
    return StringField(label, validators=[Optional(), Length(max=MAX_REFERENCE)])


class BookingRequestForm(Form):
    quantity = IntegerField(
        _l("Menge"),
        default=1,
        validators=[
            InputRequired(_l("Bitte eine Menge angeben.")),
            NumberRange(
                min=1, max=MAX_BOOKING_QUANTITY, message=_l("Die Menge ist eine ganze Zahl von 1 bis 100.000.")
            ),
        ],
    )
    starts_on = DateField(
        _l("Beginn"), validators=[InputRequired(_l("Bitte ein gültiges Datum für den Beginn angeben."))]
    )
    ends_on = DateField(_l("Ende (optional)"), validators=[Optional()], description=_l("Leer lassen für unbefristet."))
    note = TextAreaField(_l("Nachricht an den Anbieter"), validators=[Optional(), Length(max=2000)])
    order_reference = _reference(_l("Bestellnummer"))
    contract_reference = _reference(_l("Vertragsnummer"))
    buyer_accounting_reference = _reference(_l("Kostenstelle / Buchungsreferenz"))
    project_reference = _reference(_l("Projekt- / Mittelbindungsnummer"))


class ReferencesForm(Form):
    """The invoice references of a booking, editable until it is invoiced."""

    order_reference = _reference(_l("Bestellnummer"))
    contract_reference = _reference(_l("Vertragsnummer"))
    buyer_accounting_reference = _reference(_l("Kostenstelle / Buchungsreferenz"))
    project_reference = _reference(_l("Projekt- / Mittelbindungsnummer"))


class DeclineForm(Form):
    reason = TextAreaField(_l("Begründung (optional)"), validators=[Optional(), Length(max=2000)])


class CancelForm(Form):
    ends_on = DateField(
        _l("Ende zum"),
        validators=[Optional()],
        description=_l("Leer lassen: zum frühestmöglichen Tag nach Kündigungsfrist und Mindestlaufzeit."),
    )
    reason = TextAreaField(_l("Grund (optional)"), validators=[Optional(), Length(max=2000)])
    #: "1" once the user saw the confirmation page with the end date and what is still charged; without it
    #: the form only leads to that page and ends nothing.
    confirmed = HiddenField()


class MessageForm(Form):
    body = TextAreaField(
        _l("Nachricht"),
        validators=[InputRequired(_l("Bitte eine Nachricht eingeben.")), Length(max=5000)],
    )


class UsageForm(Form):
    period = MonthField(
        _l("Monat"),
        validators=[InputRequired(_l("Bitte den Monat angeben."))],
        description=_l("Als MM.JJJJ, z. B. 10.2026"),
    )
    quantity = DecimalField(
        _l("Menge"),
        validators=[InputRequired(_l("Bitte die Menge angeben."))],
        description=_l("Bis zu drei Nachkommastellen, z. B. 12,5"),
        places=USAGE_QUANTITY_PLACES,
        message=_l("Bitte die Menge als Zahl mit höchstens drei Nachkommastellen angeben, z. B. 12,5 oder 1.250."),
    )


class DisputeForm(Form):
    reason = TextAreaField(
        _l("Begründung des Einspruchs"),
        validators=[InputRequired(_l("Bitte begründen Sie den Einspruch.")), Length(max=2000)],
    )
