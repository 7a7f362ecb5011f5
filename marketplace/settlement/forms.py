from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import DataRequired

from marketplace.core.forms import Form, MonthSelectField
from marketplace.core.timeutil import month_choices
from marketplace.settlement.queries import settleable_periods


class SettlementForm(Form):
    period = MonthSelectField(
        _l("Abgeschlossener Monat"),
        validators=[DataRequired(_l("Bitte einen Monat angeben."))],
        description=_l("Abgeschlossene Monate, die noch keine Verrechnung haben."),
    )


def settlement_form() -> SettlementForm:
    """The settlement form offering the closed months without a settlement, the latest chosen."""
    periods = settleable_periods()
    form = SettlementForm(period=periods[0] if periods else None)
    form.period.choices = month_choices(periods)
    return form
