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


def settlement_form(preferred: str | None = None) -> SettlementForm:
    """The settlement form offering the closed months without a settlement: `preferred` chosen where it is
    one of them (a to-do links to its month), otherwise the latest."""
    periods = settleable_periods()
    chosen = preferred if preferred in periods else (periods[0] if periods else None)
    form = SettlementForm(period=chosen)
    form.period.choices = month_choices(periods)
    return form
