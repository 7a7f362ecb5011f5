from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from marketplace.core.forms import Form, MonthSelectField
from marketplace.core.timeutil import month_choices, period_of, previous_month, today
from marketplace.ledger.reports import billable_periods


class BillingForm(Form):
    period = MonthSelectField(
        _l("Monat"),
        validators=[DataRequired(_l("Bitte einen Monat angeben."))],
        description=_l("Offene Monate bis zum laufenden; vorgewählt ist der letzte vollständige Monat."),
    )


def billing_form() -> BillingForm:
    """The billing form offering the open months, the last complete month chosen (a posted form keeps its
    choice)."""
    periods = billable_periods()
    last_complete = period_of(previous_month(today()))
    form = BillingForm(period=last_complete if last_complete in periods else (periods[-1] if periods else None))
    form.period.choices = month_choices(periods)
    return form


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
