from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
from marketplace.core.forms import MoneyField

UNIT_LABELS = {
    Unit.MONTH: _l("Monat (wiederkehrend, anteilig nach Tagen)"),
    Unit.HOUR: _l("Stunde (nach Verbrauch)"),
    Unit.PIECE: _l("Stück (nach Verbrauch)"),
    Unit.GB_MONTH: _l("GB-Monat (nach Verbrauch)"),
    Unit.USER_MONTH: _l("Nutzer-Monat (nach Verbrauch)"),
}
UNIT_SHORT = {
    Unit.MONTH: _l("Monat"),
    Unit.HOUR: _l("Stunde"),
    Unit.PIECE: _l("Stück"),
    Unit.GB_MONTH: _l("GB-Monat"),
    Unit.USER_MONTH: _l("Nutzer-Monat"),
}
VAT_LABELS = {
    VatCategory.STANDARD: _l("S – steuerpflichtig, 19 %"),
    VatCategory.NOT_TAXABLE: _l("O – nicht steuerbar nach § 2b UStG"),
    VatCategory.EXEMPT: _l("E – steuerfrei"),
}
STATUS_LABELS = {
    ServiceStatus.DRAFT: _l("Entwurf"),
    ServiceStatus.PUBLISHED: _l("Veröffentlicht"),
    ServiceStatus.PAUSED: _l("Pausiert"),
    ServiceStatus.RETIRED: _l("Eingestellt"),
}


class ServiceForm(FlaskForm):
    title = StringField(_l("Titel"), validators=[DataRequired(_l("Bitte einen Titel angeben.")), Length(max=200)])
    description = TextAreaField(_l("Beschreibung"), validators=[Optional(), Length(max=10_000)])
    category = SelectField(_l("Kategorie"), validators=[DataRequired(_l("Bitte eine Kategorie wählen."))])
    unit = SelectField(_l("Abrechnungseinheit"), choices=[(u.value, label) for u, label in UNIT_LABELS.items()])
    unit_price = MoneyField(
        _l("Preis je Einheit in Euro (netto)"),
        validators=[InputRequired(_l("Bitte einen Preis angeben."))],
        description=_l("Zum Beispiel 1.234,50"),
    )
    vat_category = SelectField(_l("Umsatzsteuer"), choices=[(v.value, label) for v, label in VAT_LABELS.items()])
    capacity = IntegerField(
        _l("Kapazität (Einheiten gleichzeitig)"),
        validators=[Optional(), NumberRange(min=1, max=1_000_000, message=_l("Bitte eine ganze Zahl ab 1."))],
        description=_l("Leer lassen für unbegrenzt."),
    )
    status = SelectField(
        _l("Status"), choices=[(s.value, label) for s, label in STATUS_LABELS.items()], default="published"
    )
