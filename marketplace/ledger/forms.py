from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from marketplace.core.forms import Form

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class BillingForm(Form):
    period = StringField(
        _l("Monat (JJJJ-MM)"),
        validators=[
            DataRequired(_l("Bitte einen Monat angeben.")),
            Regexp(PERIOD_PATTERN, message=_l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11.")),
        ],
    )


class ReverseForm(Form):
    #: One line: the reason becomes part of the booking text (journal, DATEV Buchungstext, exports).
    reason = StringField(
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
