from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class BillingForm(FlaskForm):
    period = StringField(
        _l("Monat (JJJJ-MM)"),
        validators=[
            DataRequired(_l("Bitte einen Monat angeben.")),
            Regexp(PERIOD_PATTERN, message=_l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11.")),
        ],
    )


class ReverseForm(FlaskForm):
    reason = TextAreaField(
        _l("Grund der Stornierung"),
        description=_l("Erscheint im Buchungstext und im Prüfprotokoll (höchstens 300 Zeichen)."),
        validators=[
            DataRequired(_l("Bitte einen Grund für die Stornierung angeben.")),
            Length(max=300, message=_l("Der Grund darf höchstens 300 Zeichen lang sein.")),
        ],
    )
    confirm = BooleanField(
        _l("Ich habe die Buchung geprüft und will sie stornieren."),
        validators=[DataRequired(_l("Bitte bestätigen Sie die Stornierung."))],
    )
