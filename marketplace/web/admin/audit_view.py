"""The audit trail as a clerk reads it: local time (Europe/Berlin), actions and fields by name, money in
euros, yes/no instead of true/false; the stored keys stay available to filter by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from marketplace.core.money import format_eur

BERLIN = ZoneInfo("Europe/Berlin")

ACTION_LABELS: dict[str, Any] = {
    "member.created": _l("Mitglied aufgenommen"),
    "member.updated": _l("Stammdaten geändert"),
    "member.admitted": _l("Mitglied wieder aufgenommen"),
    "member.suspended": _l("Mitglied gesperrt"),
    "user.created": _l("Person angelegt"),
    "user.invited": _l("Person eingeladen"),
    "user.roles_changed": _l("Rollen geändert"),
    "user.activated": _l("Zugang freigegeben"),
    "user.deactivated": _l("Zugang gesperrt"),
    "user.password_reset_requested": _l("Neues Passwort angefordert"),
    "user.password_set.invitation": _l("Passwort bei Einladung gesetzt"),
    "user.password_set.password_reset": _l("Passwort neu gesetzt"),
    "token.created": _l("API-Schlüssel angelegt"),
    "token.revoked": _l("API-Schlüssel widerrufen"),
    "service.created": _l("Leistung angelegt"),
    "service.updated": _l("Leistung geändert"),
    "service.document_added": _l("Dokument zur Leistung hinzugefügt"),
    "category.created": _l("Kategorie angelegt"),
    "category.renamed": _l("Kategorie umbenannt"),
    "category.moved": _l("Kategorien umsortiert"),
    "category.retired": _l("Kategorie eingestellt"),
    "category.reactivated": _l("Kategorie wieder angeboten"),
    "category.deleted": _l("Kategorie gelöscht"),
    "booking.cancelled": _l("Buchung gekündigt"),
    "booking.message": _l("Nachricht zur Buchung"),
    "usage.entered": _l("Verbrauch erfasst"),
    "usage.confirmed": _l("Verbrauch bestätigt"),
    "usage.disputed": _l("Verbrauch bestritten"),
    "billing.run": _l("Abrechnungslauf"),
    "billing.queued": _l("Abrechnungslauf eingeplant"),
    "period.closed": _l("Monat abgeschlossen"),
    "invoice.issued": _l("Rechnung ausgestellt"),
    "credit_note.issued": _l("Gutschrift ausgestellt"),
    "transfer.reversed": _l("Buchung storniert"),
    "settlement.created": _l("Verrechnung angelegt"),
    "settlement.approved": _l("Verrechnung freigegeben"),
    "settlement.collect": _l("Lastschrifteinzug gestartet"),
    "instruction.paid_directly": _l("Direktzahlung gebucht"),
    "debit.succeeded": _l("Lastschrift eingegangen"),
    "debit.failed": _l("Lastschrift fehlgeschlagen"),
    "stripe.customer_replaced": _l("Zahlungsdaten bei Stripe erneuert"),
    "webhook.created": _l("Webhook angelegt"),
    "webhook.deactivated": _l("Webhook abgeschaltet"),
    "cost_sharing.plan_created": _l("Kostenteilung angelegt"),
    "cost_sharing.plan_changed": _l("Kostenteilung geändert"),
    "cost_sharing.participant_added": _l("Teilnehmer der Kostenteilung aufgenommen"),
    "cost_sharing.participant_leaves": _l("Teilnehmer verlässt die Kostenteilung"),
    "cost_sharing.participant_removed": _l("Teilnehmer der Kostenteilung entfernt"),
    "cost_sharing.koenigstein_set": _l("Königsteiner Schlüssel gesetzt"),
    "cost_sharing.trued_up": _l("Kostenteilung spitz abgerechnet"),
}

FIELD_LABELS: dict[str, Any] = {
    "active": _l("aktiv"),
    "name": _l("Name"),
    "email": _l("E-Mail"),
    "roles": _l("Rollen"),
    "street": _l("Straße"),
    "postcode": _l("Postleitzahl"),
    "city": _l("Ort"),
    "leitweg_id": _l("Leitweg-ID"),
    "vat_id": _l("USt-IdNr."),
    "tax_number": _l("Steuernummer"),
    "iban": _l("IBAN"),
    "bic": _l("BIC"),
    "contact_name": _l("Ansprechperson"),
    "contact_email": _l("E-Mail der Ansprechperson"),
    "contact_phone": _l("Telefon"),
    "title": _l("Titel"),
    "status": _l("Status"),
    "unit_price_cents": _l("Preis je Einheit"),
    "vat_category": _l("Umsatzsteuer"),
    "capacity": _l("Kapazität"),
    "minimum_term_months": _l("Mindestlaufzeit (Monate)"),
    "notice_period_days": _l("Kündigungsfrist (Tage)"),
    "sla_availability": _l("Verfügbarkeit (%)"),
    "sla_support_hours": _l("Servicezeiten"),
    "sla_response_hours": _l("Reaktionszeit (Stunden)"),
    "tax_legal_basis": _l("Rechtsgrundlage"),
    "tax_reasons": _l("Gründe nach § 2b UStG"),
    "vatex_code": _l("Befreiungsgrund (VATEX)"),
    "period": _l("Monat"),
    "created": _l("Buchungen"),
    "total": _l("Summe"),
    "skipped": _l("Nicht abgerechnet"),
    "bookings": _l("Buchungen"),
    "reason": _l("Grund"),
    "positions": _l("Positionen"),
    "instructions": _l("Zahlungen"),
    "number": _l("Nummer"),
    "net": _l("Netto"),
    "vat": _l("Umsatzsteuer"),
    "original": _l("Ursprüngliche Buchung"),
    "settlement": _l("Verrechnung"),
    "booking_id": _l("Buchung"),
    "quantity": _l("Menge"),
    "ends_on": _l("Ende"),
    "url": _l("Adresse"),
    "year": _l("Jahr"),
    "old": _l("bisher"),
    "new": _l("neu"),
    "actual": _l("Ist-Kosten"),
    "plan": _l("Kostenteilung"),
    "member": _l("Mitglied"),
    "joins_on": _l("Beitritt"),
    "leaves_on": _l("Austritt"),
    "value": _l("Wert"),
    "debits": _l("Lastschriften"),
    "intent": _l("Stripe-Zahlung"),
    "service_id": _l("Leistung"),
    "size_bytes": _l("Größe (Bytes)"),
    "sha256": _l("Prüfsumme (SHA-256)"),
    "name_de": _l("Name (deutsch)"),
    "name_en": _l("Name (englisch)"),
    "order": _l("Reihenfolge"),
}

#: Keys holding integer cents, by action ("old"/"new" are money only where the plan's cost changed).
_MONEY_KEYS = frozenset({"total", "net", "vat", "actual", "unit_price_cents"})
_MONEY_KEYS_OF = {"cost_sharing.plan_changed": frozenset({"old", "new"})}


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    label: str
    action: str
    before: list[tuple[str, str]]
    after: list[tuple[str, str]]


def local_time(moment: datetime) -> datetime:
    """A stored moment (UTC; SQLite hands it back without a zone) in Berlin's time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(BERLIN)


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def _value(key: str, value: Any, money: frozenset[str], lang: str) -> str:
    locale = "de_DE" if lang == "de" else "en_GB"
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return str(_l("ja")) if value else str(_l("nein"))
    if (key in money or key.endswith("_cents")) and isinstance(value, int):
        return format_eur(value, locale=locale)
    if isinstance(value, list):
        return ", ".join(_value(key, item, money, lang) for item in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{label}: {text}" for label, text in _pairs(value, money, lang))
    return str(value)


def _pairs(data: Any, money: frozenset[str], lang: str) -> list[tuple[str, str]]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [("", _value("", data, money, lang))]
    return [(str(FIELD_LABELS.get(key, key)), _value(key, value, money, lang)) for key, value in data.items()]


def audit_row(event: Any, lang: str = "de") -> AuditRow:
    """An audit event for the page: "before" and "after" as (field, value) lists; data without them is "after"."""
    data = event.data if isinstance(event.data, dict) else ({} if event.data is None else {"value": event.data})
    money = _MONEY_KEYS | _MONEY_KEYS_OF.get(event.action, frozenset())
    if "before" in data or "after" in data:
        rest = {key: value for key, value in data.items() if key not in ("before", "after")}
        before = _pairs(data.get("before"), money, lang)
        after = _pairs(data.get("after"), money, lang) + _pairs(rest, money, lang)
    else:
        before, after = [], _pairs(data, money, lang)
    return AuditRow(local_time(event.at), action_label(event.action), event.action, before, after)
