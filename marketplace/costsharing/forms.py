from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from marketplace.core.forms import DecimalField, Form, IntegerField, MoneyField
from marketplace.costsharing.models import KOENIGSTEIN_PLACES, MAX_POPULATION, MAX_WEIGHT, WEIGHT_PLACES

KEY_LABELS = {
    "equal": _l("Gleiche Anteile"),
    "population": _l("Nach Einwohnerzahl"),
    "koenigstein": _l("Königsteiner Schlüssel"),
    "custom": _l("Vereinbarte Gewichte"),
}


class PlanForm(Form):
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


class ParticipantForm(Form):
    member_id = SelectField(_l("Mitglied"), coerce=int, validators=[InputRequired(_l("Bitte ein Mitglied wählen."))])
    joins_on = DateField(_l("Teilnahme ab"), validators=[DataRequired(_l("Bitte das Datum des Beitritts angeben."))])
    leaves_on = DateField(
        _l("Teilnahme bis (optional)"), validators=[Optional()], description=_l("Letzter Tag; leer lassen, wenn offen.")
    )
    weight = DecimalField(
        _l("Gewicht (optional)"),
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_WEIGHT,
                message=_l("Bitte ein Gewicht zwischen 0 und 999.999.999,99999 angeben."),
            ),
        ],
        description=_l("Nur beim Schlüssel „Vereinbarte Gewichte“."),
        places=WEIGHT_PLACES,
        message=_l("Bitte eine Zahl mit höchstens fünf Nachkommastellen angeben, z. B. 7,44344."),
    )
    population = IntegerField(
        _l("Einwohnerzahl (optional)"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_POPULATION,
                message=_l("Bitte eine Einwohnerzahl zwischen 1 und 2.147.483.647 angeben."),
            ),
        ],
        description=_l("Nur beim Schlüssel „Nach Einwohnerzahl“."),
    )
    population_date = DateField(_l("Stichtag der Einwohnerzahl (optional)"), validators=[Optional()])


class LeaveForm(Form):
    leaves_on = DateField(_l("Letzter Tag der Teilnahme"), validators=[DataRequired(_l("Bitte ein Datum angeben."))])


class PlannedCostForm(Form):
    planned_cost = MoneyField(
        _l("Geplante Jahreskosten in Euro"), validators=[InputRequired(_l("Bitte die geplanten Jahreskosten angeben."))]
    )


class TrueUpForm(Form):
    actual_cost = MoneyField(
        _l("Tatsächliche Jahreskosten in Euro"),
        validators=[InputRequired(_l("Bitte die tatsächlichen Jahreskosten angeben."))],
    )


class KoenigsteinForm(Form):
    year = IntegerField(
        _l("Jahr"),
        validators=[
            InputRequired(_l("Bitte ein Jahr angeben.")),
            NumberRange(2000, 2100, _l("Bitte ein Jahr zwischen 2000 und 2100 angeben.")),
        ],
    )
    member_id = SelectField(_l("Mitglied"), coerce=int, validators=[InputRequired(_l("Bitte ein Mitglied wählen."))])
    value = DecimalField(
        _l("Anteil in Prozent"),
        description=_l("Wie veröffentlicht, z. B. 7,44344."),
        validators=[InputRequired(_l("Bitte den Anteil angeben."))],
        places=KOENIGSTEIN_PLACES,
        message=_l("Bitte eine Zahl mit höchstens fünf Nachkommastellen angeben, z. B. 7,44344."),
    )
