"""Forms of the correction and release pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from marketplace.core.forms import DecimalField, Form, MoneyField
from marketplace.corrections.models import MAX_STATEMENT


def _text(label, required: str, description=None) -> TextAreaField:
    return TextAreaField(
        label,
        description=description,
        validators=[
            DataRequired(required),
            Length(max=MAX_STATEMENT, message=_l("Höchstens %(max)d Zeichen.", max=MAX_STATEMENT)),
        ],
    )


class ReleaseForm(Form):
    confirm = BooleanField(
        _l("Ich bestätige: sachlich und rechnerisch richtig."),
        validators=[DataRequired(_l("Bitte bestätigen Sie, dass die Rechnung sachlich und rechnerisch richtig ist."))],
    )


class ReleaseMonthForm(ReleaseForm):
    #: The ids of the invoices shown to the person, comma-separated: only these are released.
    invoice_ids = HiddenField()


class ObjectionForm(Form):
    reason = _text(
        _l("Begründung der Beanstandung"),
        _l("Bitte begründen Sie die Beanstandung."),
        _l("Was ist an der Rechnung falsch? Die Betreiberin entscheidet den Korrekturfall."),
    )


class StatementForm(Form):
    statement = _text(_l("Ihre Stellungnahme"), _l("Bitte geben Sie eine Stellungnahme ein."))


class DisputeBilledForm(Form):
    reason = _text(
        _l("Begründung"),
        _l("Bitte begründen Sie den Einspruch."),
        _l("Der Verbrauch ist bereits abgerechnet: Ihr Einspruch wird ein Korrekturfall für die Betreiberin."),
    )


class CorrectUsageForm(Form):
    quantity = DecimalField(
        _l("Berichtigte Menge"),
        validators=[InputRequired(_l("Bitte die berichtigte Menge angeben."))],
        places=3,
        message=_l("Bitte die Menge als Zahl mit höchstens drei Nachkommastellen angeben, z. B. 12,5."),
    )
    reason = _text(_l("Begründung"), _l("Bitte begründen Sie die Korrektur."))


class ResolveForm(Form):
    decision = RadioField(
        _l("Entscheidung"),
        choices=[
            ("corrected", _l("Berichtigen: stornieren, Gutschrift, neue Belastung im nächsten offenen Monat")),
            ("rejected", _l("Zurückweisen: die Abrechnung bleibt, die Rechnung geht zur Freigabe zurück")),
        ],
        validators=[InputRequired(_l("Bitte eine Entscheidung wählen."))],
    )
    quantity = DecimalField(
        _l("Berichtigte Menge"),
        description=_l("Nur bei Verbrauch; leer: die vom Anbieter vorgeschlagene Menge."),
        validators=[Optional()],
        places=3,
        message=_l("Bitte die Menge als Zahl mit höchstens drei Nachkommastellen angeben, z. B. 12,5."),
    )
    amount = MoneyField(
        _l("Berichtigter Nettobetrag in Euro"),
        description=_l("Nur bei einer beanstandeten Rechnung: der richtige Nettobetrag, 0 für eine volle Gutschrift."),
        validators=[Optional()],
    )
    note = _text(
        _l("Vermerk"),
        _l("Bitte begründen Sie die Entscheidung."),
        _l("Beide Seiten lesen ihn; bei Zurückweisung steht er bei der Rechnung."),
    )
    confirm = BooleanField(
        _l("Ich habe beide Stellungnahmen gelesen und entscheide den Fall."),
        validators=[DataRequired(_l("Bitte bestätigen Sie die Entscheidung."))],
    )
