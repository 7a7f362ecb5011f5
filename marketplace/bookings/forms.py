from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional


class BookingRequestForm(FlaskForm):
    quantity = IntegerField(
        _l("Menge"),
        default=1,
        validators=[
            InputRequired(_l("Bitte eine Menge angeben.")),
            NumberRange(min=1, max=100_000, message=_l("Die Menge ist eine ganze Zahl von 1 bis 100.000.")),
        ],
    )
    starts_on = DateField(
        _l("Beginn"), validators=[InputRequired(_l("Bitte ein gültiges Datum für den Beginn angeben."))]
    )
    ends_on = DateField(_l("Ende (optional)"), validators=[Optional()], description=_l("Leer lassen für unbefristet."))
    note = TextAreaField(_l("Nachricht an den Anbieter"), validators=[Optional(), Length(max=2000)])


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Begründung (optional)"), validators=[Optional(), Length(max=2000)])
