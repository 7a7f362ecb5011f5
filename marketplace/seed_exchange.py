"""The demo's wider exchange: three more providers with 27 services across every category, each with its SLA,
and bookings in every state (requested, accepted, active, ended, declined, withdrawn, cancelled).

Added after the core demo (`marketplace.seed`) has written its ledger history: these bookings start in the
current month or later, so the history, the closed months and the charges of last month stay exactly as
the core demo made them; the current month's billing run charges the active ones.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from marketplace.admission import admit_member
from marketplace.bookings.models import Booking, BookingEvent, BookingMessage, BookingStatus
from marketplace.bookings.operations import accept_booking, cancel_booking, decline_booking, withdraw_booking
from marketplace.catalogue.models import Service, ServiceStatus, TaxReason, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.members.models import MemberKind, Role, User
from marketplace.members.operations import create_user

PROVIDERS = [
    {
        "name": "ITZ Rheinhessen",
        "kind": MemberKind.DATA_CENTRE,
        "ags": "07319000",
        "leitweg_id": "07319000-ITZ01-80",
        "street": "Marktplatz 2",
        "postcode": "67547",
        "city": "Worms",
        "iban": "DE67550501200000123456",
        "contact_name": "Ida Rechenzentrum",
        "contact_email": "anbieter@itz-rheinhessen.example",
        "contact_phone": "+49 6241 000600",
    },
    {
        "name": "Stadt Darmstadt",
        "kind": MemberKind.MUNICIPALITY,
        "ags": "06411000",
        "leitweg_id": "06411000-LB001-66",
        "street": "Luisenplatz 5",
        "postcode": "64283",
        "city": "Darmstadt",
        "iban": "DE24508525530000456789",
        "contact_name": "Dora Digital",
        "contact_email": "anbieter@darmstadt.example",
        "contact_phone": "+49 6151 000700",
    },
    {
        "name": "Landesbetrieb Daten und Information",
        "kind": MemberKind.STATE_AGENCY,
        "leitweg_id": "07000000-LDI01-66",
        "street": "Valenciaplatz 6",
        "postcode": "55118",
        "city": "Mainz",
        "vat_id": "DE149143281",
        "iban": "DE14550604170000987654",
        "contact_name": "Lutz Landesbetrieb",
        "contact_email": "anbieter@ldi.example",
        "contact_phone": "+49 6131 000800",
    },
]

USERS = [
    ("ITZ Rheinhessen", "anbieter@itz-rheinhessen.example", "Ida Rechenzentrum", [Role.PROVIDER, Role.BUYER]),
    ("Stadt Darmstadt", "anbieter@darmstadt.example", "Dora Digital", [Role.PROVIDER, Role.BUYER]),
    ("Landesbetrieb Daten und Information", "anbieter@ldi.example", "Lutz Landesbetrieb", [Role.PROVIDER]),
]

ITZ, DA, LDI = (user[1] for user in USERS)
DEMO_PASSWORD = "demo-passwort"  # noqa: S105 - the documented demo login, as in marketplace.seed
TAXED, PUBLIC = VatCategory.STANDARD, VatCategory.NOT_TAXABLE  # 19 %, or not taxable under § 2b UStG
OFFICE = "Mo–Fr 7–18 Uhr"
ALWAYS = "24/7"

SERVICES = [
    # provider, title, category, unit, price, vat, capacity, availability %, support hours, response hours, text
    (ITZ, "Virtueller Server (Groß)", "hosting", Unit.MONTH, "189.00", PUBLIC, 20, "99.90", ALWAYS, 2,
     "8 vCPU, 32 GB RAM und 500 GB Speicher im georedundanten Rechenzentrum Worms, tägliche Sicherung."),
    (ITZ, "Webhosting für Bürgerportale", "hosting", Unit.MONTH, "39.00", PUBLIC, None, "99.50", OFFICE, 8,
     "Verwaltete Webseiten mit TLS, Barrierefreiheitsprüfung und Redaktionszugang für Rathäuser."),
    (ITZ, "Datenbank-Hosting PostgreSQL", "hosting", Unit.MONTH, "149.00", PUBLIC, 30, "99.90", ALWAYS, 2,
     "Hochverfügbare PostgreSQL-Cluster mit Replikation, Point-in-Time-Wiederherstellung und Monitoring."),
    (ITZ, "Backup-Speicher", "hosting", Unit.GB_MONTH, "0.03", PUBLIC, None, "99.00", OFFICE, 8,
     "Verschlüsselte Sicherung nach der 3-2-1-Regel, abgerechnet je Gigabyte und Monat."),
    (ITZ, "Betrieb Einwohnermeldewesen", "operations", Unit.MONTH, "680.00", PUBLIC, 15, "99.50", OFFICE, 4,
     "Betrieb, Updates und Schnittstellen des Einwohnermeldeverfahrens nach XMeld."),
    (ITZ, "Netzwerkbetrieb Außenstellen", "operations", Unit.MONTH, "95.00", PUBLIC, None, "99.00", OFFICE, 4,
     "VPN-Anbindung und Überwachung von Bürgerbüros und Außenstellen."),
    (ITZ, "Patchmanagement Arbeitsplätze", "operations", Unit.USER_MONTH, "2.80", PUBLIC, None, "98.00", OFFICE, 24,
     "Monatliche Sicherheitsupdates für Windows-Arbeitsplätze mit Bericht."),
    (ITZ, "Rufbereitschaft Rechenzentrum", "support", Unit.HOUR, "110.00", PUBLIC, None, "99.90", ALWAYS, 1,
     "Einsätze außerhalb der Geschäftszeiten, abgerechnet nach Stunden."),
    (ITZ, "Lizenzverwaltung Fachverfahren", "licence-management", Unit.MONTH, "240.00", PUBLIC, None, "99.00",
     OFFICE, 8,
     "Verwaltung und Prüfung der Lizenzen kommunaler Fachverfahren mit jährlichem Bericht."),
    (DA, "Schulung E-Akte", "training", Unit.PIECE, "450.00", PUBLIC, 12, "95.00", OFFICE, 24,
     "Eintägige Schulung für bis zu zwölf Beschäftigte zur Arbeit mit der E-Akte, vor Ort oder online."),
    (DA, "Schulung Informationssicherheit", "training", Unit.PIECE, "380.00", PUBLIC, 20, "95.00", OFFICE, 24,
     "Sensibilisierung zu Phishing, Passwörtern und Meldewegen, mit Teilnahmebescheinigung."),
    (DA, "Onlinekurs Barrierefreie Dokumente", "training", Unit.USER_MONTH, "6.00", PUBLIC, None, "99.00", OFFICE, 24,
     "Selbstlernkurs zu barrierefreien Word- und PDF-Dokumenten mit Lernstandsbericht."),
    (DA, "Beratung Onlinezugangsgesetz", "consulting", Unit.HOUR, "98.00", PUBLIC, None, "95.00", OFFICE, 24,
     "Begleitung bei der Umsetzung von OZG-Leistungen: Prozessaufnahme, Anbindung, Einführung."),
    (DA, "Beratung Digitalstrategie", "consulting", Unit.HOUR, "115.00", PUBLIC, None, "95.00", OFFICE, 24,
     "Workshops und Roadmap für die Digitalisierung kleiner und mittlerer Kommunen."),
    (DA, "Ratsinformationssystem", "software", Unit.MONTH, "320.00", PUBLIC, 25, "99.50", OFFICE, 4,
     "Sitzungsdienst und Bürgerinformation als gemeinsam betriebene Software."),
    (DA, "Terminvergabe Bürgerbüro", "software", Unit.MONTH, "120.00", PUBLIC, None, "99.50", OFFICE, 4,
     "Online-Terminbuchung für Bürgerbüros mit Erinnerung per E-Mail und SMS."),
    (DA, "Mängelmelder", "software", Unit.MONTH, "75.00", PUBLIC, None, "99.00", OFFICE, 8,
     "Meldungen von Bürgerinnen und Bürgern zu Straßenschäden und Müll, mit App und Kartenansicht."),
    (DA, "Anwenderbetreuung Ratsinformationssystem", "support", Unit.HOUR, "72.00", PUBLIC, None, "98.00", OFFICE, 8,
     "Hilfe für Sitzungsdienste bei Vorlagen, Einladungen und Protokollen."),
    (LDI, "Geodatendienste (WMS/WFS)", "software", Unit.MONTH, "260.00", TAXED, None, "99.50", OFFICE, 4,
     "Bereitstellung kommunaler Geodaten als standardisierte Dienste für Portale und Fachverfahren."),
    (LDI, "Statistikauswertungen", "consulting", Unit.PIECE, "540.00", TAXED, None, "95.00", OFFICE, 48,
     "Auswertungen aus Landesstatistiken für Planung und Haushalt, mit Erläuterung."),
    (LDI, "Lizenzmanagement Oracle", "licence-management", Unit.USER_MONTH, "7.20", TAXED, None, "99.00", OFFICE, 8,
     "Beschaffung und Prüfung von Oracle-Lizenzen über den Landesrahmenvertrag."),
    (LDI, "Lizenzmanagement Adobe", "licence-management", Unit.USER_MONTH, "3.90", TAXED, None, "99.00", OFFICE, 8,
     "Zuteilung von Adobe-Lizenzen aus dem Landesvolumenvertrag, monatlich je Nutzer."),
    (LDI, "Verzeichnisdienst Landesnetz", "operations", Unit.MONTH, "140.00", TAXED, None, "99.90", ALWAYS, 2,
     "Anbindung an den Verzeichnisdienst und das Landesnetz mit Zertifikaten."),
    (LDI, "E-Mail-Archivierung", "hosting", Unit.USER_MONTH, "1.60", TAXED, None, "99.50", OFFICE, 8,
     "Revisionssichere Archivierung dienstlicher E-Mails nach GoBD."),
    (LDI, "Service-Desk (First Level)", "support", Unit.MONTH, "980.00", TAXED, 8, "99.00", OFFICE, 1,
     "Erste Anlaufstelle für Beschäftigte per Telefon, E-Mail und Portal, werktags 7 bis 18 Uhr."),
    (LDI, "Schulung Geoinformationssystem", "training", Unit.PIECE, "420.00", TAXED, 15, "95.00", OFFICE, 48,
     "Einführung in QGIS und die Geodienste des Landes für Fachämter."),
    (LDI, "Penetrationstest Webanwendung", "consulting", Unit.PIECE, "3800.00", TAXED, 4, "95.00", OFFICE, 48,
     "Sicherheitsprüfung einer Webanwendung nach BSI-Leitfaden mit Bericht und Nachtest."),
]  # fmt: skip


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None  # noqa: S101 - created by the demo
    return user


def _service(title: str) -> Service:
    service = db.session.scalar(select(Service).where(Service.title == title))
    assert service is not None  # noqa: S101 - created just above
    return service


def _request(buyer: User, title: str, starts_on: date, quantity: int, ends_on: date | None = None) -> Booking:
    """A request as of `starts_on` (operations refuse start dates in the past for new requests)."""
    booking = Booking(
        service_id=_service(title).id,
        buyer_id=buyer.member_id,
        requested_by_id=buyer.id,
        quantity=quantity,
        starts_on=starts_on,
        ends_on=ends_on,
        status=BookingStatus.REQUESTED,
    )
    db.session.add(booking)
    db.session.flush()
    db.session.add(BookingEvent(booking_id=booking.id, to_status=BookingStatus.REQUESTED, actor_id=buyer.id))
    db.session.flush()
    return booking


def seed_exchange() -> None:
    """Add the wider exchange to the core demo (called by `marketplace.seed.seed_demo_data`)."""
    members = {spec["name"]: admit_member(None, **spec) for spec in PROVIDERS}
    for member_name, email, name, roles in USERS:
        create_user(None, member=members[member_name], email=email, name=name, password=DEMO_PASSWORD, roles=roles)
    for email, title, category, unit, price, vat, capacity, availability, hours, response, text in SERVICES:
        create_service(
            _user(email),
            ServiceInput(
                title=title,
                description=text,
                category=category,
                unit=unit,
                unit_price=Decimal(price),
                vat_category=vat,
                capacity=capacity,
                capacity_set=True,
                status=ServiceStatus.PUBLISHED,
                sla_availability=Decimal(availability),
                sla_support_hours=hours,
                sla_response_hours=response,
                sla_set=True,
                tax_reasons=list(TaxReason) if vat is VatCategory.NOT_TAXABLE else None,
            ),
        )

    day = today()
    first = day.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    wiesbaden, ladadi = _user("einkauf@wiesbaden.example"), _user("einkauf@ladadi.example")
    darmstadt = _user(DA)
    itz, da, ldi = _user(ITZ), _user(DA), _user(LDI)

    # active since the first of this month
    for buyer, title, quantity, provider in [
        (wiesbaden, "Virtueller Server (Groß)", 2, itz),
        (wiesbaden, "Ratsinformationssystem", 1, da),
        (ladadi, "Datenbank-Hosting PostgreSQL", 1, itz),
        (ladadi, "Verzeichnisdienst Landesnetz", 1, ldi),
        (darmstadt, "Betrieb Einwohnermeldewesen", 1, itz),
        (wiesbaden, "Lizenzmanagement Adobe", 40, ldi),
    ]:
        accept_booking(provider, _request(buyer, title, first, quantity))
    # accepted, starting next month
    accept_booking(da, _request(ladadi, "Terminvergabe Bürgerbüro", next_month, 1))
    accept_booking(ldi, _request(wiesbaden, "Geodatendienste (WMS/WFS)", next_month, 1))
    # ended: a training run in the first days of this month (on the 1st it ends today and is still active)
    training = _request(ladadi, "Schulung E-Akte", first, 2, ends_on=max(first, day - timedelta(days=1)))
    accept_booking(da, training)
    # cancelled by the buyer, ending with next month
    cancelled = _request(wiesbaden, "Webhosting für Bürgerportale", first, 3)
    accept_booking(itz, cancelled)
    cancel_booking(
        wiesbaden, cancelled, "Das Bürgerportal zieht in das Landesportal um.", ends_on=next_month - timedelta(days=1)
    )
    # declined: the capacity is promised elsewhere
    declined = _request(ladadi, "Penetrationstest Webanwendung", next_month, 2)
    decline_booking(ldi, declined, "Im nächsten Monat sind alle Prüfteams verplant; bitte ab dem Folgemonat anfragen.")
    # withdrawn by the buyer
    withdrawn = _request(wiesbaden, "Beratung Digitalstrategie", next_month, 10)
    withdraw_booking(wiesbaden, withdrawn)
    # requests waiting for the providers' decision, one with a message
    _request(wiesbaden, "Schulung Informationssicherheit", next_month, 1)
    question = _request(ladadi, "Backup-Speicher", next_month, 1)
    db.session.add(
        BookingMessage(
            booking_id=question.id,
            author_id=ladadi.id,
            body="Wir brauchen etwa 2 TB; ist eine Aufbewahrung von 90 Tagen möglich?",
        )
    )
    db.session.flush()
