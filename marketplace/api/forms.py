"""Forms of the API's HTML side: tokens in the profile."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, Length


class TokenCreateForm(FlaskForm):
    name = StringField(
        _l("Bezeichnung"),
        description=_l("Wofür ist der Token? Zum Beispiel „SAP-Anbindung Kämmerei“."),
        validators=[DataRequired(_l("Bitte eine Bezeichnung angeben.")), Length(max=100)],
    )
    scope = RadioField(
        _l("Berechtigung"),
        choices=[
            ("read", _l("Nur lesen")),
            ("write", _l("Lesen und schreiben (anfragen, annehmen, Verbrauch erfassen …)")),
        ],
        default="read",
        validators=[DataRequired(_l("Bitte eine Berechtigung wählen."))],
    )
