from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from marketplace.core.forms import MoneyField

KEY_LABELS = {
    "equal": _l("Gleiche Anteile"),
    "population": _l("Nach Einwohnerzahl"),
    "koenigstein": _l("Königsteiner Schlüssel"),
    "custom": _l("Vereinbarte Gewichte"),
}


class DecimalCommaField(StringField):
    """A non-negative decimal typed with a comma or a point (``7,44344``), up to five places."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        text = str(valuelist[0]).strip().replace(",", ".") if valuelist else ""
        if not text:
            return
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            self.raw_data = valuelist
            raise ValueError(_l("Bitte eine Zahl angeben, z. B. 7,44344.")) from exc
        if not value.is_finite() or value.as_tuple().exponent < -5:  # type: ignore[operator]
            self.raw_data = valuelist
            raise ValueError(_l("Bitte eine Zahl mit höchstens fünf Nachkommastellen angeben."))
        self.data = value


class PlanForm(FlaskForm):
    service_id = SelectField(_l("Leistung"), coerce=int, validators=[InputRequired(_l("Bitte eine Leistung wählen."))])
    year = IntegerField(
        _l("Jahr"),
        validators=[
            InputRequired(_l("Bitte ein Jahr angeben.")),
            NumberRange(2000, 2100, _l("Bitte ein Jahr zwischen 2000 und 2100 angeben.")),
        ],
    )
    planned_cost = MoneyField(
        _l("Geplante Jahreskosten in Euro"),
        description=_l("Grundlage der monatlichen Abschläge; die Spitzabrechnung folgt den tatsächlichen Kosten."),
        validators=[InputRequired(_l("Bitte die geplanten Jahreskosten angeben."))],
    )
    allocation_key = SelectField(_l("Verteilungsschlüssel"), choices=list(KEY_LABELS.items()))


class ParticipantForm(FlaskForm):
    member_id = SelectField(_l("Mitglied"), coerce=int, validators=[InputRequired(_l("Bitte ein Mitglied wählen."))])
    joins_on = DateField(_l("Teilnahme ab"), validators=[DataRequired(_l("Bitte das Datum des Beitritts angeben."))])
    leaves_on = DateField(
        _l("Teilnahme bis (optional)"), validators=[Optional()], description=_l("Letzter Tag; leer lassen, wenn offen.")
    )
    weight = DecimalCommaField(_l("Gewicht (optional)"), description=_l("Nur beim Schlüssel „Vereinbarte Gewichte“."))
    population = IntegerField(
        _l("Einwohnerzahl (optional)"),
        validators=[Optional(), NumberRange(min=1, message=_l("Bitte eine Einwohnerzahl größer als 0 angeben."))],
        description=_l("Nur beim Schlüssel „Nach Einwohnerzahl“."),
    )
    population_date = DateField(_l("Stichtag der Einwohnerzahl (optional)"), validators=[Optional()])


class LeaveForm(FlaskForm):
    leaves_on = DateField(_l("Letzter Tag der Teilnahme"), validators=[DataRequired(_l("Bitte ein Datum angeben."))])


class PlannedCostForm(FlaskForm):
    planned_cost = MoneyField(
        _l("Geplante Jahreskosten in Euro"), validators=[InputRequired(_l("Bitte die geplanten Jahreskosten angeben."))]
    )


class TrueUpForm(FlaskForm):
    actual_cost = MoneyField(
        _l("Tatsächliche Jahreskosten in Euro"),
        validators=[InputRequired(_l("Bitte die tatsächlichen Jahreskosten angeben."))],
    )


class KoenigsteinForm(FlaskForm):
    year = IntegerField(
        _l("Jahr"),
        validators=[
            InputRequired(_l("Bitte ein Jahr angeben.")),
            NumberRange(2000, 2100, _l("Bitte ein Jahr zwischen 2000 und 2100 angeben.")),
        ],
    )
    member_id = SelectField(_l("Mitglied"), coerce=int, validators=[InputRequired(_l("Bitte ein Mitglied wählen."))])
    value = DecimalCommaField(
        _l("Anteil in Prozent"),
        description=_l("Wie veröffentlicht, z. B. 7,44344."),
        validators=[InputRequired(_l("Bitte den Anteil angeben."))],
    )
