from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, RadioField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional

from marketplace.core.forms import Form
from marketplace.members.models import MAX_MANDATE_REFERENCE, MAX_REFERENCE, InvoiceReference, PaymentWay


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


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


#: The buyer references an invoice profile can require, with their XRechnung terms.
REFERENCE_LABELS = {
    InvoiceReference.ORDER: _l("Bestellnummer (BT-13)"),
    InvoiceReference.CONTRACT: _l("Vertragsnummer (BT-12)"),
    InvoiceReference.BUYER_ACCOUNTING: _l("Kostenstelle / Buchungsreferenz (BT-19)"),
    InvoiceReference.PROJECT: _l("Projekt- / Mittelbindungsnummer (BT-11)"),
}
PAYMENT_WAY_LABELS = {
    PaymentWay.CLEARING: _l("Verrechnung über die Leistungsbörse (97): das Zahlungsavis nennt den Saldo"),
    PaymentWay.DEBIT: _l("SEPA-Lastschrift durch den Betreiber (59) unter dem Mandat, das er für Ihre Stelle hält"),
    PaymentWay.TRANSFER: _l("SEPA-Überweisung an den Anbieter (58)"),
}


def _reference_field(reference: InvoiceReference) -> StringField:
    return StringField(
        _l("Vorgabe: %(label)s", label=REFERENCE_LABELS[reference]),
        validators=[Optional(), Length(max=MAX_REFERENCE)],
    )


class InvoiceProfileForm(Form):
    required = _Checkboxes(
        _l("Pflichtangaben jeder Buchung"),
        choices=[(reference.value, label) for reference, label in REFERENCE_LABELS.items()],
        validate_choice=False,
    )
    order_reference = _reference_field(InvoiceReference.ORDER)
    contract_reference = _reference_field(InvoiceReference.CONTRACT)
    buyer_accounting_reference = _reference_field(InvoiceReference.BUYER_ACCOUNTING)
    project_reference = _reference_field(InvoiceReference.PROJECT)
    payment_way = RadioField(
        _l("Zahlungsweg"),
        choices=[(way.value, label) for way, label in PAYMENT_WAY_LABELS.items()],
        validators=[InputRequired(_l("Bitte einen Zahlungsweg wählen."))],
    )
    mandate_reference = StringField(
        _l("Mandatsreferenz (bei Lastschrift)"),
        validators=[Optional(), Length(max=MAX_MANDATE_REFERENCE)],
        description=_l("Die Referenz des SEPA-Mandats, das der Betreiber für Ihre Stelle hält, z. B. LB-0004-2026"),
    )
    mandate_iban = StringField(
        _l("IBAN des belasteten Kontos (bei Lastschrift)"), validators=[Optional(), Length(max=42)]
    )
    sepa_creditor_id = StringField(
        _l("Gläubiger-Identifikationsnummer des Betreibers"),
        validators=[Optional(), Length(max=40)],
        description=_l("Unter ihr zieht der Betreiber die Lastschriften ein, z. B. DE98ZZZ09999999999"),
    )
