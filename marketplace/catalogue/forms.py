from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.catalogue.models import (
    MAX_CAPACITY,
    MAX_MINIMUM_TERM_MONTHS,
    MAX_NOTICE_DAYS,
    MAX_RESPONSE_HOURS,
    MAX_TITLE,
    SLA_AVAILABILITY_PLACES,
    ServiceStatus,
    TaxReason,
    Unit,
    VatCategory,
)
from marketplace.core.forms import DecimalField, Form, IntegerField, MoneyField

UNIT_LABELS = {
    Unit.MONTH: _l("Monat (wiederkehrend, anteilig nach Tagen)"),
    Unit.HOUR: _l("Stunde (nach Verbrauch)"),
    Unit.PIECE: _l("Stück (nach Verbrauch)"),
    Unit.GB_MONTH: _l("GB-Monat (nach Verbrauch)"),
    Unit.USER_MONTH: _l("Nutzer-Monat (nach Verbrauch)"),
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


TAX_REASON_LABELS = {
    TaxReason.PUBLIC_LAW_AGREEMENT: _l(
        "Leistung auf Grundlage einer langfristigen öffentlich-rechtlichen Vereinbarung"
    ),
    TaxReason.SHARED_PUBLIC_TASK: _l("Dient der Erfüllung einer gemeinsamen öffentlichen Aufgabe"),
    TaxReason.COST_REIMBURSEMENT: _l("Ausschließlich Kostenerstattung, ohne Gewinnaufschlag"),
    TaxReason.MAINLY_PUBLIC_BODIES: _l(
        "Der Anbieter leistet im Wesentlichen an andere juristische Personen des öffentlichen Rechts"
    ),
}
#: Common exemption codes (EN 16931 VATEX) for services public bodies exchange.
VATEX_LABELS = {
    "VATEX-EU-132": _l("VATEX-EU-132 – steuerfrei nach Art. 132 MwStSystRL (dem Gemeinwohl dienend)"),
    "VATEX-EU-132-1I": _l("VATEX-EU-132-1I – Bildung und Ausbildung (§ 4 Nr. 21 UStG)"),
    "VATEX-EU-132-1J": _l("VATEX-EU-132-1J – Unterricht durch Privatlehrer (§ 4 Nr. 21 UStG)"),
    "VATEX-EU-132-1L": _l("VATEX-EU-132-1L – Leistungen von Einrichtungen an ihre Mitglieder"),
    "VATEX-EU-135-1": _l("VATEX-EU-135-1 – steuerfrei nach Art. 135 Abs. 1 MwStSystRL"),
}


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ServiceForm(Form):
    title = StringField(_l("Titel"), validators=[DataRequired(_l("Bitte einen Titel angeben.")), Length(max=MAX_TITLE)])
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
        validators=[Optional(), NumberRange(min=1, max=MAX_CAPACITY, message=_l("Bitte eine ganze Zahl ab 1."))],
        description=_l("Leer lassen für unbegrenzt."),
    )
    status = SelectField(
        _l("Status"), choices=[(s.value, label) for s, label in STATUS_LABELS.items()], default="published"
    )
    price_valid_from = DateField(
        _l("Neuer Preis gilt ab"),
        validators=[Optional()],
        description=_l(
            "Leer oder heute: sofort. Ein späterer Tag plant die Preisänderung; bestehende Buchungen "
            "behalten ihren Preis."
        ),
    )
    tax_legal_basis = StringField(
        _l("Rechtsgrundlage"),
        validators=[Optional(), Length(max=200)],
        description=_l("Pflicht zum Veröffentlichen, z. B. § 2b Abs. 3 Nr. 2 UStG"),
    )
    tax_reasons = CheckboxesField(
        _l("Begründung der Nicht-Steuerbarkeit"),
        choices=[(r.value, label) for r, label in TAX_REASON_LABELS.items()],
    )
    tax_reasoning = TextAreaField(_l("Erläuterung zur Steuerbehandlung"), validators=[Optional(), Length(max=5000)])
    vatex_code = SelectField(
        _l("Befreiungsgrund (VATEX-Code)"),
        choices=[("", _l("– bei E bitte wählen –")), *VATEX_LABELS.items()],
        validate_choice=False,  # checked below, so that a form without the field (S, O) is fine
    )
    minimum_term_months = IntegerField(
        _l("Mindestlaufzeit in Monaten"),
        default=0,
        validators=[
            Optional(),
            NumberRange(min=0, max=MAX_MINIMUM_TERM_MONTHS, message=_l("Bitte eine ganze Zahl von 0 bis 120.")),
        ],
    )
    notice_period_days = IntegerField(
        _l("Kündigungsfrist in Tagen"),
        default=0,
        validators=[
            Optional(),
            NumberRange(min=0, max=MAX_NOTICE_DAYS, message=_l("Bitte eine ganze Zahl von 0 bis 730.")),
        ],
    )
    sla_availability = DecimalField(
        _l("Verfügbarkeit in Prozent"),
        description=_l("Zum Beispiel 99,5"),
        places=SLA_AVAILABILITY_PLACES,
        message=_l("Bitte eine Zahl mit höchstens zwei Nachkommastellen angeben, z. B. 99,5."),
    )
    sla_support_hours = StringField(
        _l("Servicezeiten"), validators=[Optional(), Length(max=200)], description=_l("Zum Beispiel Mo–Fr 7–18 Uhr")
    )
    sla_response_hours = IntegerField(
        _l("Reaktionszeit in Stunden"),
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_RESPONSE_HOURS, message=_l("Bitte eine ganze Zahl von 1 bis 8760.")),
        ],
    )
    contact_name = StringField(_l("Ansprechperson"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(_l("E-Mail der Ansprechperson"), validators=[Optional(), Length(max=254)])
    contact_phone = StringField(_l("Telefon der Ansprechperson"), validators=[Optional(), Length(max=40)])

    def validate_vatex_code(self, field: SelectField) -> None:
        if self.vat_category.data == VatCategory.EXEMPT.value and not field.data:
            raise ValidationError(_l("Bei E bitte den Befreiungsgrund (VATEX-Code) wählen."))
        if field.data and field.data not in VATEX_LABELS:
            raise ValidationError(_l("Bitte einen Befreiungsgrund aus der Liste wählen."))


#: Uploads: PDF only, checked by content, at most this size.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class DocumentForm(Form):
    title = StringField(
        _l("Bezeichnung"), validators=[DataRequired(_l("Bitte eine Bezeichnung angeben.")), Length(max=200)]
    )
    file = FileField(_l("PDF-Datei (höchstens 5 MB)"))


class StatusForm(Form):
    status = SelectField(_l("Status"), choices=[(s.value, label) for s, label in STATUS_LABELS.items()])


#: Messages of marketplace/catalogue/operations.py about publishing O and retired categories, marked for the
#: English catalogue (domain errors look their German text up there; see marketplace/core/domain_messages.py).
DOMAIN_MESSAGES = [
    _l("Diese Kategorie wird nicht mehr angeboten; bitte eine andere wählen."),
    _l("Bitte die Rechtsgrundlage angeben; ohne sie lässt sich O nicht veröffentlichen."),
    _l("Bitte mindestens einen Grund ankreuzen; ohne ihn lässt sich O nicht veröffentlichen."),
    _l(
        "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn Rechtsgrundlage und Begründung "
        "der Nicht-Steuerbarkeit angegeben sind. Als Entwurf können Sie sie ohne diese Angaben speichern."
    ),
    _l(
        "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn die Begründung der "
        "Nicht-Steuerbarkeit angegeben ist. Als Entwurf können Sie sie ohne diese Angabe speichern."
    ),
    _l(
        "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn die Rechtsgrundlage "
        "angegeben ist. Als Entwurf können Sie sie ohne diese Angabe speichern."
    ),
]
