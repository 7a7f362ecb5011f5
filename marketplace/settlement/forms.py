from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp


class SettlementForm(FlaskForm):
    period = StringField(
        _l("Abgeschlossener Monat (JJJJ-MM)"),
        validators=[
            DataRequired(_l("Bitte einen Monat angeben.")),
            Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10.")),
        ],
    )
