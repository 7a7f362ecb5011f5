from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from marketplace.core.forms import Form


class SettlementForm(Form):
    period = StringField(
        _l("Abgeschlossener Monat (JJJJ-MM)"),
        validators=[
            DataRequired(_l("Bitte einen Monat angeben.")),
            Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])$", message=_l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10.")),
        ],
    )
