"""The literal messages of the domain errors raised in `marketplace/`, marked for the English catalogue.

Operations raise `DomainError`s with German texts (they are also the API's `detail`). `DomainError` looks each
message up in the catalogue of the user's language when it is raised inside a request
(`marketplace/core/errors.py`), so English users read English. Messages built with f-strings cannot be looked
up; give them a fixed text where a person sees them.

Regenerate after new messages appear (then `make messages` and translate):
    .venv/bin/python -m marketplace.core.domain_messages > /tmp/m.py && mv /tmp/m.py marketplace/core/domain_messages.py
    .venv/bin/ruff format marketplace/core/domain_messages.py
"""

# ruff: noqa: E501 - one message per line, as the catalogue shows it
from __future__ import annotations

from flask_babel import lazy_gettext as _l

MESSAGES = [
    # marketplace/api/corrections.py
    _l("Korrekturfälle sehen die Beteiligten und die Finanzabteilung der Betreiberin."),
    # marketplace/api/idempotency.py
    _l("Dieser Idempotency-Key wurde schon für eine andere Anfrage (anderer Inhalt) verwendet."),
    _l("Eine Anfrage mit diesem Idempotency-Key läuft noch. Bitte gleich erneut versuchen."),
    _l("Der Idempotency-Key hat 1 bis 255 sichtbare ASCII-Zeichen."),
    # marketplace/api/ledger.py
    _l("Das Hauptbuch sehen nur Finanzrollen."),
    # marketplace/api/members.py
    _l("Dieses Mitglied gibt es nicht."),
    # marketplace/api/months.py
    _l("Monate sehen nur Finanzrollen."),
    _l("Diesen Verbrauch gibt es nicht."),
    # marketplace/api/schemas.py
    _l("Die Anfrage enthält ungültige Felder."),
    # marketplace/api/settlement.py
    _l("Rechnungen und Verrechnungen sieht nur die Finanzabteilung."),
    _l("Rechnungen sehen die Finanzabteilung, die Einkäufer und die Anbieter des Mitglieds."),
    # marketplace/api/spec.py
    _l("Die Abfrageparameter sind ungültig."),
    _l("Das gibt es nicht."),
    # marketplace/api/views.py
    _l("Diese Leistung gibt es nicht."),
    _l("Alle Buchungen sieht nur der Betreiber."),
    _l("Diesen Abrechnungslauf gibt es nicht."),
    _l("Salden sehen nur Finanzrollen."),
    # marketplace/bookings/operations.py
    _l("Eine Pflichtangabe für die Rechnung fehlt."),
    _l("Ihre Stelle verlangt auf jeder Rechnung eine Bestellnummer; bitte angeben."),
    _l("Ihre Stelle verlangt auf jeder Rechnung eine Vertragsnummer; bitte angeben."),
    _l("Ihre Stelle verlangt auf jeder Rechnung eine Kostenstelle oder Buchungsreferenz; bitte angeben."),
    _l("Ihre Stelle verlangt auf jeder Rechnung eine Projekt- oder Mittelbindungsnummer; bitte angeben."),
    _l("Die Buchung %(booking)s ist „%(status)s“ und kann nicht „%(to)s“ werden."),
    _l("Die Anfrage ist unvollständig oder ungültig."),
    _l("Nur Einkäuferinnen und Einkäufer können Leistungen anfragen."),
    _l("Eigene Leistungen können nicht gebucht werden."),
    _l("Diese Leistung ist derzeit nicht buchbar."),
    _l("Die Rechnungsreferenzen pflegt die abnehmende Stelle."),
    _l("Unbekannte Referenz."),
    _l(
        "Die Buchung %(booking)s ist bereits in Rechnung gestellt; ihre Referenzen stehen auf ausgestellten Rechnungen und lassen sich nicht mehr ändern."
    ),
    _l("Die Rechnungsreferenzen sind unvollständig oder ungültig."),
    _l("Nur der Anbieter kann diese Anfrage annehmen."),
    _l("Die Buchung %(booking)s ist „%(status)s“ und kann nicht angenommen werden."),
    _l("Nur der Anbieter kann diese Anfrage ablehnen."),
    _l("Der Grund hat höchstens %(max_note)s Zeichen."),
    _l("Nur die anfragende Stelle kann die Anfrage zurückziehen."),
    _l(
        "Die Kündigungsfrist beträgt %(notice_period_days)s Tage: die Buchung kann frühestens zum %(notice_end)s enden."
    ),
    _l(
        "Die Kündigung fällt in die Mindestlaufzeit von %(minimum_term_months)s Monaten: die Buchung kann frühestens zum %(term_end)s enden."
    ),
    _l("Die Buchung endet ohnehin am %(ends_on)s."),
    _l("Nur die Einkäufer der abnehmenden Stelle oder der Anbieter können kündigen."),
    _l("Die Buchung %(booking)s ist „%(status)s“ und kann nicht gekündigt werden."),
    _l("Bitte die Menge als Zahl angeben, z. B. 12,5."),
    _l("Die Menge muss zwischen 0 und 10.000.000.000 liegen."),
    _l("Die Menge hat höchstens drei Nachkommastellen."),
    _l("Menge mal Preis je Einheit ergibt mehr als %(max_charge_cents)s für einen Monat; bitte die Menge prüfen."),
    _l("Nur der Anbieter erfasst den Verbrauch."),
    _l("Die Buchung %(booking)s ist „%(status)s“: Verbrauch gibt es erst nach Annahme."),
    _l("Diese Leistung wird monatlich anteilig abgerechnet; Verbrauch wird nicht erfasst."),
    _l("Der Monat %(period)s liegt in der Zukunft."),
    _l("Der Monat %(period)s liegt außerhalb der Buchung (%(starts_on)s bis %(until)s)."),
    _l("Der Verbrauch für %(period)s ist bereits abgerechnet und kann nicht mehr geändert werden."),
    _l("Nur die Einkäufer der abnehmenden Stelle prüfen den Verbrauch."),
    _l(
        "Der Verbrauch für %(period)s ist bereits abgerechnet; Einwände dagegen klärt der Betreiber über eine Korrektur (Storno und neue Berechnung)."
    ),
    _l("Die Prüffrist von %(usage_review_days)s Tagen ist am %(review_deadline)s abgelaufen."),
    _l("Der Verbrauch für %(period)s ist bereits bestätigt."),
    _l("Bitte begründen Sie den Einspruch."),
    _l("Die Begründung hat höchstens %(max_note)s Zeichen."),
    _l("Der Verbrauch für %(period)s ist „%(status)s“ und kann nicht bestritten werden."),
    _l("Nachrichten schreiben nur Einkauf und Anbieter dieser Buchung."),
    _l("Bitte eine Nachricht eingeben."),
    _l("Die Nachricht hat höchstens %(max_message)s Zeichen."),
    _l("Die Kapazität reicht nicht: %(capacity)s Einheiten, davon %(held)s belegt, angefragt %(quantity)s."),
    _l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11."),
    _l("Der Verbrauch für %(period)s ist von der abnehmenden Stelle bestätigt."),
    # marketplace/bookings/queries.py
    _l("Diese Buchung gibt es nicht."),
    # marketplace/catalogue/categories.py
    _l("Kategorien verwaltet nur der Betreiber."),
    _l("Diese Kategorie gibt es nicht mehr."),
    _l("Die Angaben zur Kategorie sind unvollständig oder ungültig."),
    _l("Die Kategorie steht schon an erster Stelle."),
    _l("Die Kategorie steht schon an letzter Stelle."),
    _l("Mindestens eine Kategorie muss angeboten bleiben."),
    _l("Die Kategorie ist bereits eingestellt."),
    _l("Die Kategorie wird bereits angeboten."),
    # marketplace/catalogue/operations.py
    _l("Unbekannte Kategorie „%(slug)s“."),
    _l("Diese Kategorie wird nicht mehr angeboten; bitte eine andere wählen."),
    _l("Die Angaben zum Angebot sind unvollständig oder ungültig."),
    _l(
        "Nicht steuerbar nach § 2b UStG können nur juristische Personen des öffentlichen Rechts leisten; bitte S oder E wählen."
    ),
    _l("Nur Anbieter-Mitarbeitende können Leistungen anbieten."),
    _l("Pflichtangaben fehlen."),
    _l("Nur der Anbieter kann diese Leistung ändern."),
    _l("Nur der Anbieter kann Unterlagen hochladen."),
    _l("Bitte eine Bezeichnung mit höchstens 200 Zeichen angeben."),
    _l("Bitte eine PDF-Datei auswählen."),
    _l("Die Datei ist zu groß: höchstens 5 MB."),
    _l("Nur PDF-Dateien sind erlaubt; diese Datei ist kein PDF."),
    _l("Eine Leistung hat höchstens %(max_documents)s Unterlagen."),
    _l("Bei E bitte den Befreiungsgrund (VATEX-Code) angeben."),
    # marketplace/core/validators.py
    _l("Die Gläubiger-Identifikationsnummer ist ungültig (Aufbau oder Prüfziffer)."),
    _l("Die Leitweg-ID ist ungültig (Aufbau oder Prüfziffer)."),
    _l("Die USt-IdNr. ist ungültig."),
    _l("Der Amtliche Gemeindeschlüssel hat genau 8 Ziffern."),
    _l(
        "Die Mandatsreferenz hat höchstens 35 Zeichen: Buchstaben ohne Umlaute, Ziffern, Leerzeichen und + ? / - : ( ) . , '"
    ),
    _l("Die IBAN ist ungültig."),
    # marketplace/corrections/operations.py
    _l("Bitte begründen Sie Ihre Angabe."),
    _l("Höchstens %(max)s Zeichen."),
    _l("Der Verbrauch für %(period)s ist noch nicht abgerechnet; er wird direkt bestätigt oder bestritten."),
    _l("Die Abrechnung des Verbrauchs für %(period)s ist bereits storniert (Buchung %(transfer)s)."),
    _l("Verbrauch beanstanden nur Einkauf und Finanzabteilung der abnehmenden Stelle."),
    _l("Nur der Anbieter korrigiert den Verbrauch."),
    _l("Die Menge entspricht der abgerechneten (%(quantity)s)."),
    _l("Die Rechnung %(number)s ist bereits freigegeben."),
    _l("Die Rechnung %(number)s ist bereits beanstandet."),
    _l("Diesen Korrekturfall gibt es nicht."),
    _l("Der Korrekturfall %(case)s ist bereits entschieden."),
    _l("Das Mitglied %(member)s hat kein Verrechnungskonto."),
    _l(
        "Die Rechnung %(number)s enthält Positionen der Kostenumlage; sie wird dort korrigiert, der Korrekturfall kann nur zurückgewiesen werden."
    ),
    _l("Bitte die berichtigte Menge angeben."),
    _l("Die Menge entspricht der abgerechneten (%(quantity)s); dann bitte zurückweisen."),
    _l("Bitte „corrected“ (berichtigen) oder „rejected“ (zurückweisen) wählen."),
    _l("Der Korrekturfall %(case)s ist bereits entschieden (%(status)s)."),
    _l("Zu diesem Verbrauch ist der Korrekturfall %(case)s bereits offen."),
    _l("Bitte den berichtigten Nettobetrag der Rechnung angeben."),
    _l("Der Betrag muss zwischen 0 und %(max)s liegen."),
    _l("Der Betrag entspricht der Rechnung (%(amount)s); dann bitte zurückweisen."),
    _l(
        "Die Belastung %(transfer)s ist bereits storniert (durch einen anderen Fall oder von Hand); bitte den Fall zurückweisen und den Vermerk darauf verweisen."
    ),
    # marketplace/costsharing/operations.py
    _l("Bitte ein Jahr zwischen %(min_year)s und %(max_year)s angeben."),
    _l("Die geplanten Jahreskosten darf nicht negativ sein."),
    _l("Die tatsächlichen Jahreskosten darf nicht negativ sein."),
    _l("Die geplanten Jahreskosten ist unplausibel hoch."),
    _l("Die tatsächlichen Jahreskosten ist unplausibel hoch."),
    _l("Der Plan %(year)s ist bereits spitz abgerechnet und kann nicht mehr geändert werden."),
    _l("Nur der Anbieter der Leistung kann die Kostenteilung verwalten."),
    _l("Nur der Anbieter der Leistung kann eine Kostenteilung anlegen."),
    _l("Für diese Leistung gibt es für %(year)s bereits eine Kostenteilung."),
    _l("Der Beitritt muss spätestens am %(last)s liegen."),
    _l("Der Anbieter trägt die Kosten nicht als Teilnehmer."),
    _l("Der Betreiber der Leistungsbörse nimmt an Kostenteilungen nicht teil."),
    _l("%(member)s ist kein aktives Mitglied."),
    _l("%(member)s nimmt an dieser Kostenteilung bereits teil."),
    _l("%(member)s ist bereits eingeladen; die Antwort steht noch aus."),
    _l("Die Einwohnerzahl ist höchstens 2.147.483.647."),
    _l("Das Gewicht ist höchstens 999.999.999,99999."),
    _l("Das Gewicht hat höchstens fünf Nachkommastellen."),
    _l("Bitte ein Gewicht größer als 0 angeben."),
    _l("Für %(member)s ist kein Königsteiner Schlüssel %(year)s hinterlegt; der Betreiber trägt ihn ein."),
    _l("Nur die Beschäftigten des eingeladenen Mitglieds können die Einladung beantworten."),
    _l("Diese Einladung ist bereits beantwortet."),
    _l("Für %(member)s sind schon Abschläge berechnet; bitte stattdessen den Austritt eintragen."),
    _l("Nur der Betreiber trägt den Königsteiner Schlüssel ein."),
    _l("Bitte einen Anteil größer als 0 und höchstens 100 angeben."),
    _l("Höchstens fünf Nachkommastellen."),
    _l("Die Spitzabrechnung für %(year)s ist erst nach Ablauf des Jahres möglich."),
    _l("Die Kostenteilung hat keine Teilnehmer, die Kosten tragen."),
    _l("Der Austritt darf nicht vor dem Beitritt liegen."),
    _l("Der Austritt muss im Jahr %(year)s oder später liegen."),
    _l("Bitte die Einwohnerzahl angeben (größer als 0)."),
    _l("Bitte den Stichtag der Einwohnerzahl angeben."),
    # marketplace/costsharing/queries.py
    _l("Für %(name)s fehlt das Gewicht."),
    _l("Für %(name)s fehlt die Einwohnerzahl."),
    _l("Für %(name)s fehlt der Königsteiner Schlüssel %(year)s."),
    # marketplace/ledger/operations.py
    _l("Das Mitglied %(member)s hat kein Konto „%(kind)s“."),
    _l("Derselbe Idempotenzschlüssel kommt in einem Auftrag mehrfach vor."),
    _l("Unbekannte Konten: %(accounts)s"),
    _l("Der Monat %(period)s liegt in der Zukunft und kann noch nicht abgerechnet werden."),
    _l("Der Monat %(period)s ist abgeschlossen."),
    _l("Der Monat %(period)s liegt vor dem abgeschlossenen Monat %(closed)s und gilt als abgeschlossen."),
    _l("Der Monat %(period)s ist bereits abgeschlossen."),
    _l("Bitte einen Grund für die Stornierung angeben."),
    _l("Der Grund darf höchstens 300 Zeichen lang sein."),
    _l("Eine Stornobuchung kann nicht selbst storniert werden."),
    _l(
        "Nur Leistungsentgelte können storniert werden; Buchung %(transfer)s ist „%(kind)s“ und wird über Gutschrift oder Verrechnung korrigiert."
    ),
    _l("Die Buchung %(transfer)s ist bereits storniert."),
    _l("Ungültiger Idempotenzschlüssel."),
    _l("Eine Buchung braucht mindestens zwei Posten."),
    _l("Ein Buchungsposten darf nicht 0 sein."),
    _l("Die Posten von %(key)s ergeben nicht null."),
    _l(
        "Der Monat %(period)s liegt vor dem abgeschlossenen Monat %(closed)s; es kann nichts mehr hineingebucht werden."
    ),
    _l("Der Monat %(period)s ist abgeschlossen; es kann nichts mehr hineingebucht werden."),
    _l("Den Vorgang %(key)s gibt es bereits mit einem anderen Betrag."),
    # marketplace/members/invoice_profiles.py
    _l("Das Rechnungsprofil pflegen die Finanzabteilung des Mitglieds und der Betreiber."),
    _l("Das Rechnungsprofil ist unvollständig oder ungültig."),
    _l("Die Angaben zum Zahlungsweg sind ungültig."),
    _l("Die Angaben zur Lastschrift sind unvollständig."),
    _l("Eine Referenz hat höchstens 100 Zeichen."),
    _l("Bitte nur die Referenzen Bestellnummer, Vertrag, Kostenstelle und Projekt je einmal."),
    _l("Diese Referenz gibt es nicht."),
    _l("Für die Lastschrift bitte die Referenz des SEPA-Mandats angeben."),
    _l("Für die Lastschrift bitte die IBAN des belasteten Kontos angeben."),
    _l(
        "Der Betreiber hat noch keine Gläubiger-Identifikationsnummer hinterlegt; ohne sie ist keine Lastschrift möglich."
    ),
    # marketplace/members/operations.py
    _l("Bitte einen Namen angeben."),
    _l("Ein Mitglied namens „%(name)s“ gibt es bereits."),
    _l("Bitte prüfen Sie die Stammdaten."),
    _l("Die Stammdaten ändert nur die Verwaltung des Mitglieds oder des Betreibers."),
    _l("Dieses Feld gibt es in den Stammdaten nicht."),
    _l("Das Passwort braucht mindestens %(min_password_length)s Zeichen."),
    _l("Die E-Mail-Adresse %(email)s ist bereits vergeben."),
    _l("Dieser Token ist bereits widerrufen."),
    _l("Nur die Verwaltung des Betreibers nimmt Mitglieder auf oder sperrt sie."),
    _l("Der Betreiber kann sich nicht selbst sperren."),
    _l("„%(member)s“ ist bereits aktiv."),
    _l("„%(member)s“ ist bereits gesperrt."),
    _l("Diese Rolle gibt es für dieses Mitglied nicht: %(roles)s"),
    _l("Bitte mindestens eine Rolle wählen."),
    _l("Nur die Verwaltung des Mitglieds lädt Personen ein."),
    _l("Das ist keine gültige E-Mail-Adresse."),
    _l("Bitte einen Namen mit höchstens 200 Zeichen angeben."),
    _l("Nur die Verwaltung des Mitglieds vergibt Rollen."),
    _l("Sie können sich die Verwaltungsrolle nicht selbst entziehen."),
    _l("Nur die Verwaltung des Mitglieds sperrt Zugänge."),
    _l("Sie können Ihren eigenen Zugang nicht sperren."),
    _l("Der Zugang %(email)s ist bereits aktiv."),
    _l("Der Zugang %(email)s ist bereits gesperrt."),
    _l("Dieser Link ist ungültig, abgelaufen oder wurde schon verwendet."),
    _l("Das Passwort hat höchstens 200 Zeichen."),
    _l("E-Mail-Adresse oder Passwort sind falsch."),
    _l("Die Postleitzahl hat genau 5 Ziffern."),
    _l("Die BIC hat 8 oder 11 Zeichen, z. B. MALADE51MNZ."),
    _l("Die Steuernummer besteht aus 10 bis 13 Ziffern, z. B. 26/673/00154."),
    # marketplace/members/permissions.py
    _l("Das darf nur die Finanzabteilung des Betreibers: %(action)s."),
    # marketplace/members/queries.py
    _l("Konten und Salden sehen nur Finanzrollen."),
    _l("Diesen Token gibt es nicht."),
    # marketplace/monthend/close.py
    _l("Die Anmerkung darf höchstens 300 Zeichen lang sein."),
    _l("Der Monat %(period)s ist noch nicht vorbei und kann nicht abgeschlossen werden."),
    _l("Der Monat %(period)s kann nicht abgeschlossen werden: %(items)s"),
    _l(
        "Der Monat %(period)s hat Verbrauch in Prüfung oder bestritten: %(items)s Zum Abschluss trotzdem bitte eine Begründung angeben; dieser Verbrauch wird später nachberechnet."
    ),
    # marketplace/monthend/datev/__init__.py
    _l("Den DATEV-Buchungsstapel für %(period)s gibt es erst, wenn der Monat abgeschlossen ist."),
    _l("Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10."),
    # marketplace/monthend/datev/accounts.py
    _l("Für den Steuersatz %(rate)s Prozent gibt es keinen DATEV-Steuerschlüssel."),
    _l("DATEV kennt hier nur die Kontenrahmen SKR 03 und SKR 04, nicht %(chart)s."),
    _l("Die DATEV-Einstellung %(role)s ist keine Kontonummer: %(account)s."),
    # marketplace/payments/collection.py
    _l("Die Verrechnung muss erst von einer zweiten Person freigegeben werden."),
    _l("Die Verrechnung ist bereits bezahlt."),
    _l("Für den Lastschrifteinzug ist kein Stripe-Zugang eingerichtet (STRIPE_API_KEY)."),
    _l("Für %(member)s ist keine gültige IBAN des Lastschriftmandats hinterlegt."),
    # marketplace/settlement/operations.py
    _l("Der Monat %(period)s ist nicht abgeschlossen; erst danach kann er verrechnet werden."),
    _l("Für %(period)s gibt es bereits eine Verrechnung."),
    _l("Es gibt bereits eine Verrechnung für den späteren Monat %(later)s."),
    _l("Für %(period)s gibt es nichts zu verrechnen: keine freigegebene Rechnung oder Gutschrift ist offen."),
    _l("Die Verrechnung %(period)s ist „%(status)s“ und kann nicht „%(to)s“ werden."),
    _l("Vier-Augen-Prinzip: Wer die Verrechnung angelegt hat, kann sie nicht freigeben."),
    _l("Diese Zahlungsanweisung gibt es nicht."),
    _l("Direktzahlungen lassen sich nur für freigegebene, noch nicht bezahlte Verrechnungen buchen."),
    _l("Diese Zahlungsanweisung wird gerade eingezogen oder ist bereits bezahlt."),
    _l(
        "Für %(period)s gibt es nichts zu verrechnen: keine freigegebene Rechnung oder Gutschrift ist offen; %(pending)s Rechnung(en) warten noch auf die Freigabe durch die Abnehmer oder sind beanstandet."
    ),
    _l("Für %(period)s wurde gerade eine andere Verrechnung angelegt; bitte die Seite neu laden."),
    # marketplace/settlement/queries.py
    _l("Diese Rechnung gibt es nicht."),
    _l("Diese Verrechnung gibt es nicht."),
    _l("Dieses Zahlungsavis gibt es nicht."),
    # marketplace/settlement/release.py
    _l("Rechnungen gibt nur die Finanzabteilung der Rechnungsempfängerin frei."),
    _l("Freigeben oder beanstanden kann nur die Finanzabteilung der Rechnungsempfängerin."),
    _l("Die Gutschrift %(number)s braucht keine Freigabe."),
    _l(
        "Die Rechnung %(number)s ist beanstandet; sie kann erst nach der Entscheidung über den Korrekturfall freigegeben werden."
    ),
    _l("Bitte die geprüften Rechnungen angeben."),
    _l("Höchstens %(max)s Rechnungen auf einmal freigeben."),
    _l(
        "Seit dem Laden der Liste ist eine weitere Rechnung für %(period)s eingegangen; bitte die Liste neu laden und prüfen."
    ),
    _l(
        "Die Rechnungen %(ids)s gehören nicht zu den offenen Freigaben des Monats %(period)s; bitte die Liste neu laden."
    ),
    # marketplace/settlement/sepa.py
    _l("Die Verrechnung %(period)s ist noch nicht freigegeben; Überweisungsdateien gibt es erst danach."),
    _l(
        "Die Zahlungen von %(payer)s aus der Verrechnung %(period)s werden per Lastschrift eingezogen; eine Überweisung würde doppelt zahlen."
    ),
    _l(
        "Die Zahlungen von %(payer)s aus der Verrechnung %(period)s sind bereits bezahlt oder anders ausgeglichen; eine Überweisung würde doppelt zahlen."
    ),
    _l("Für %(member)s ist keine gültige IBAN hinterlegt."),
    _l("%(payer)s überweist in dieser Verrechnung nichts."),
    _l(
        "Aus der Verrechnung %(period)s zahlt der Betreiber nichts aus: jede zahlende Stelle zahlt direkt an ihre Empfänger, keine per Lastschrift."
    ),
    # marketplace/webhooks/operations.py
    _l("Webhooks verwalten die Administratoren des Mitglieds."),
    _l("Dieser Webhook ist bereits abgeschaltet."),
    _l("Dieser Webhook ist abgeschaltet."),
    # marketplace/webhooks/queries.py
    _l("Diesen Webhook gibt es nicht."),
    _l("Diese Zustellung gibt es nicht."),
]


def _scan() -> list[tuple[str, str]]:
    """(message, file) for every literal message passed to a DomainError in marketplace/."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = {"DomainError", "NotFound", "PermissionDenied", "Conflict", "InvalidInput"}
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            is_field = (
                name == "field" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "InvalidInput"
            )
            if name not in names and not is_field:
                continue
            candidates = list(node.args[1:2] if is_field else node.args[:1])
            for keyword in node.keywords:
                if keyword.arg == "errors" and isinstance(keyword.value, ast.Dict):
                    for value in keyword.value.values:
                        candidates += value.elts if isinstance(value, ast.List) else []
            for choice in [c for c in candidates if isinstance(c, ast.IfExp)]:  # "… aktiv." if … else "… gesperrt."
                candidates += [choice.body, choice.orelse]
            for arg in candidates:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and any(c.isalpha() for c in arg.value):
                    found.setdefault(arg.value, str(path.relative_to(root.parent)))
    return list(found.items())


def _render(found: list[tuple[str, str]]) -> str:
    lines, last = [], None
    for message, where in found:
        if where != last:
            lines.append(f"    # {where}")
            last = where
        lines.append(f"    _l({message!r}),")
    return "\n".join(lines)


if __name__ == "__main__":
    import re
    from pathlib import Path

    source = Path(__file__).read_text(encoding="utf-8")
    listing = "MESSAGES = [\n" + _render(_scan()) + "\n]\n"
    print(re.sub(r"^MESSAGES = \[\n.*?^\]\n", lambda _m: listing, source, count=1, flags=re.S | re.M), end="")
