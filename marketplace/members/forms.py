from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[
            DataRequired(_l("Bitte Ihre E-Mail-Adresse angeben.")),
            Email(_l("Das ist keine gültige E-Mail-Adresse.")),
            Length(max=254),
        ],
    )
    password = PasswordField(
        _l("Passwort"), validators=[DataRequired(_l("Bitte Ihr Passwort angeben.")), Length(max=200)]
    )


class TokenForm(FlaskForm):
    name = StringField(
        _l("Bezeichnung"), validators=[DataRequired(_l("Bitte eine Bezeichnung angeben.")), Length(max=100)]
    )
