from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from marketplace.core.forms import Form


class LoginForm(Form):
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


class TokenCreateForm(Form):
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


class ForgotPasswordForm(Form):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[
            DataRequired(_l("Bitte Ihre E-Mail-Adresse angeben.")),
            Email(_l("Das ist keine gültige E-Mail-Adresse.")),
            Length(max=254),
        ],
    )


class SetPasswordForm(Form):
    password = PasswordField(
        _l("Neues Passwort"),
        validators=[
            DataRequired(_l("Bitte ein Passwort angeben.")),
            Length(min=10, max=200, message=_l("Das Passwort hat 10 bis 200 Zeichen.")),
        ],
        description=_l("Mindestens 10 Zeichen."),
    )
    confirm = PasswordField(
        _l("Passwort wiederholen"),
        validators=[
            DataRequired(_l("Bitte das Passwort wiederholen.")),
            EqualTo("password", message=_l("Die beiden Passwörter stimmen nicht überein.")),
        ],
    )
