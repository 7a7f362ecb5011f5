from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Email, Length, Optional

from marketplace.core.forms import Form
from marketplace.members.models import MemberKind, Role

ROLE_LABELS = {
    Role.PROVIDER: _l("Anbieter (Leistungen anbieten, Anfragen entscheiden, Verbrauch melden)"),
    Role.BUYER: _l("Einkauf (Leistungen anfragen, Buchungen verwalten)"),
    Role.MEMBER_FINANCE: _l("Finanzen (Konto, Rechnungen)"),
    Role.MEMBER_ADMIN: _l("Verwaltung (Personen einladen, Rollen vergeben, Protokoll lesen)"),
    Role.OPERATOR_ADMIN: _l("Betrieb: Verwaltung"),
    Role.OPERATOR_FINANCE: _l("Betrieb: Finanzen"),
}
KIND_LABELS = {
    MemberKind.DATA_CENTRE: _l("Kommunales Rechenzentrum / Zweckverband"),
    MemberKind.MUNICIPALITY: _l("Gemeinde / Stadt"),
    MemberKind.COUNTY: _l("Landkreis"),
    MemberKind.STATE_AGENCY: _l("Landesbehörde"),
    MemberKind.ASSOCIATION: _l("Verein / Verband (privatrechtlich)"),
}


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class MemberDataForm(Form):
    """The master data invoices and payments need; the operation checks IBAN, Leitweg-ID and VAT id."""

    street = StringField(
        _l("Straße und Hausnummer"),
        validators=[DataRequired(_l("Bitte Straße und Hausnummer angeben.")), Length(max=200)],
    )
    postcode = StringField(
        _l("Postleitzahl"), validators=[DataRequired(_l("Bitte die Postleitzahl angeben.")), Length(max=10)]
    )
    city = StringField(_l("Ort"), validators=[DataRequired(_l("Bitte den Ort angeben.")), Length(max=100)])
    leitweg_id = StringField(
        _l("Leitweg-ID"),
        validators=[Optional(), Length(max=46)],
        description=_l("Adresse für E-Rechnungen an diese Stelle, z. B. 06414000-LB001-13."),
    )
    vat_id = StringField(
        _l("Umsatzsteuer-Identifikationsnummer"),
        validators=[Optional(), Length(max=20)],
        description=_l("Nur wenn die Stelle eine hat, z. B. DE811128135."),
    )
    tax_number = StringField(
        _l("Steuernummer"),
        validators=[Optional(), Length(max=20)],
        description=_l("Wenn keine USt-IdNr. vorliegt, z. B. 26/673/12345."),
    )
    iban = StringField(
        _l("IBAN"),
        validators=[Optional(), Length(max=42)],
        description=_l("Konto für Zahlungen und Lastschriften aus der Verrechnung."),
    )
    bic = StringField(_l("BIC"), validators=[Optional(), Length(max=11)])
    contact_name = StringField(_l("Ansprechperson"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(_l("E-Mail der Ansprechperson"), validators=[Optional(), Length(max=254)])
    contact_phone = StringField(_l("Telefon der Ansprechperson"), validators=[Optional(), Length(max=40)])


class MemberForm(MemberDataForm):
    name = StringField(
        _l("Name der Stelle"), validators=[DataRequired(_l("Bitte einen Namen angeben.")), Length(max=200)]
    )
    kind = SelectField(_l("Art"), choices=[(k.value, label) for k, label in KIND_LABELS.items()])
    admin_name = StringField(_l("Name der ersten Verwaltungsperson"), validators=[Optional(), Length(max=200)])
    admin_email = EmailField(
        _l("E-Mail der ersten Verwaltungsperson"),
        validators=[Optional(), Email(_l("Das ist keine gültige E-Mail-Adresse.")), Length(max=254)],
        description=_l("Sie erhält eine Einladung und kann weitere Personen einladen."),
    )


class InviteForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Bitte einen Namen angeben.")), Length(max=200)])
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[
            DataRequired(_l("Bitte eine E-Mail-Adresse angeben.")),
            Email(_l("Das ist keine gültige E-Mail-Adresse.")),
            Length(max=254),
        ],
    )
    roles = CheckboxesField(_l("Rollen"))


class RolesForm(Form):
    roles = CheckboxesField(_l("Rollen"))


class CategoryForm(Form):
    """Create or rename a service category (the operation checks uniqueness per language)."""

    name_de = StringField(
        _l("Name auf Deutsch"),
        validators=[
            DataRequired(_l("Bitte einen deutschen Namen angeben.")),
            Length(max=100, message=_l("Der Name hat höchstens 100 Zeichen.")),
        ],
    )
    name_en = StringField(
        _l("Name auf Englisch"),
        validators=[
            DataRequired(_l("Bitte einen englischen Namen angeben.")),
            Length(max=100, message=_l("Der Name hat höchstens 100 Zeichen.")),
        ],
        description=_l("Für die englische Oberfläche, z. B. Hosting oder Consulting."),
    )


#: The messages of marketplace/catalogue/categories.py that people see, marked for the English catalogue
#: (the domain errors look their German text up there; see marketplace/core/domain_messages.py).
CATEGORY_MESSAGES = [
    _l("Kategorien verwaltet nur der Betreiber."),
    _l("Diesen deutschen Namen hat schon eine andere Kategorie."),
    _l("Diesen englischen Namen hat schon eine andere Kategorie."),
    _l("Die Angaben zur Kategorie sind unvollständig oder ungültig."),
    _l("Die Kategorie steht schon an erster Stelle."),
    _l("Die Kategorie steht schon an letzter Stelle."),
    _l("Mindestens eine Kategorie muss angeboten bleiben."),
    _l("Die Kategorie ist bereits eingestellt."),
    _l("Die Kategorie wird bereits angeboten."),
    _l("Diese Kategorie gibt es nicht mehr."),
]
