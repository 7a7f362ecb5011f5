"""Demo data: the members, users, services, bookings and ledger history that DESIGN.md promises.

Dates are relative to today, so that last month is always billable, closable and settleable right away.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from marketplace.admission import admit_member
from marketplace.bookings.models import (
    USAGE_REVIEW_DAYS,
    Booking,
    BookingEvent,
    BookingStatus,
    UsageRecord,
    UsageStatus,
)
from marketplace.bookings.operations import accept_booking, dispute_usage, record_usage
from marketplace.catalogue.models import Service, ServiceStatus, TaxReason, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service
from marketplace.core.timeutil import month_bounds, period_of, previous_month, today
from marketplace.corrections.operations import dispute_billed_usage
from marketplace.extensions import db
from marketplace.members.invoice_profiles import invoice_profile_of
from marketplace.members.models import InvoiceProfile, InvoiceReference, Member, MemberKind, PaymentWay, Role, User
from marketplace.members.operations import create_user
from marketplace.monthend.billing import run_billing
from marketplace.monthend.close import close_period
from marketplace.seed_exchange import seed_exchange
from marketplace.settlement.models import DocumentType, Invoice
from marketplace.settlement.release import release_invoice

DEMO_PASSWORD = "demo-passwort"  # noqa: S105 - documented demo login, never for production data

MEMBERS = [
    {
        "name": "KOPIT eG",
        "kind": MemberKind.OPERATOR,
        "is_operator": True,
        "leitweg_id": "07315000-KOPIT-76",
        "street": "Rheinallee 1",
        "postcode": "55116",
        "city": "Mainz",
        "vat_id": "DE136695976",
        "iban": "DE02120300000000202051",
        # the creditor identifier the cooperative collects its SEPA debits under (the Bundesbank's example)
        "sepa_creditor_id": "DE98ZZZ09999999999",
        "contact_name": "Petra Betrieb",
        "contact_email": "betrieb@kopit.example",
        "contact_phone": "+49 6131 000100",
    },
    {
        "name": "KDZ Mainz",
        "kind": MemberKind.DATA_CENTRE,
        "ags": "07315000",
        "leitweg_id": "07315000-KDZ01-22",
        "street": "Große Bleiche 46",
        "postcode": "55116",
        "city": "Mainz",
        "tax_number": "26/673/12345",
        "iban": "DE89370400440532013000",
        "contact_name": "Karl Anbieter",
        "contact_email": "anbieter@kdz-mainz.example",
        "contact_phone": "+49 6131 000200",
    },
    {
        "name": "ekom21",
        "kind": MemberKind.DATA_CENTRE,
        "ags": "06435014",
        "leitweg_id": "06435014-EKOM1-56",
        "street": "Carlo-Mierendorff-Straße 11",
        "postcode": "34132",
        "city": "Kassel",
        "vat_id": "DE811128135",
        "iban": "DE12500105170648489890",
        "contact_name": "Eva Kommunal",
        "contact_email": "anbieter@ekom21.example",
        "contact_phone": "+49 561 000300",
    },
    {
        "name": "Stadt Wiesbaden",
        "kind": MemberKind.MUNICIPALITY,
        "ags": "06414000",
        "leitweg_id": "06414000-LB001-13",
        "street": "Schlossplatz 6",
        "postcode": "65183",
        "city": "Wiesbaden",
        "iban": "DE75512108001245126199",
        "contact_name": "Wilma Einkauf",
        "contact_email": "einkauf@wiesbaden.example",
        "contact_phone": "+49 611 000400",
    },
    {
        "name": "Landkreis Darmstadt-Dieburg",
        "kind": MemberKind.COUNTY,
        "ags": "06432000",
        "leitweg_id": "06432000-LB001-83",
        "street": "Albinistraße 23",
        "postcode": "64807",
        "city": "Dieburg",
        "iban": "DE91100000000123456789",
        "contact_name": "Lars Landkreis",
        "contact_email": "einkauf@ladadi.example",
        "contact_phone": "+49 6071 000500",
    },
]

USERS = [
    ("KOPIT eG", "betrieb@kopit.example", "Petra Betrieb", [Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE]),
    ("KOPIT eG", "pruefung@kopit.example", "Paul Prüfung", [Role.OPERATOR_FINANCE]),
    ("KDZ Mainz", "anbieter@kdz-mainz.example", "Karl Anbieter", [Role.PROVIDER]),
    ("ekom21", "anbieter@ekom21.example", "Eva Kommunal", [Role.PROVIDER]),
    ("Stadt Wiesbaden", "einkauf@wiesbaden.example", "Wilma Einkauf", [Role.BUYER]),
    ("Stadt Wiesbaden", "kasse@wiesbaden.example", "Klaus Kasse", [Role.MEMBER_FINANCE]),
    ("Landkreis Darmstadt-Dieburg", "einkauf@ladadi.example", "Lars Landkreis", [Role.BUYER]),
    ("Landkreis Darmstadt-Dieburg", "kasse@ladadi.example", "Karla Kasse", [Role.MEMBER_FINANCE]),
]

SERVICES = [
    # provider e-mail, title, category, unit, price, vat, capacity, description
    (
        "anbieter@kdz-mainz.example",
        "Virtueller Server (Standard)",
        "hosting",
        Unit.MONTH,
        "89.00",
        VatCategory.NOT_TAXABLE,
        40,
        "Virtueller Windows- oder Linux-Server im kommunalen Rechenzentrum Mainz: 4 vCPU, 16 GB RAM, "
        "200 GB Speicher, tägliche Sicherung, Betrieb nach BSI IT-Grundschutz.",
    ),
    (
        "anbieter@kdz-mainz.example",
        "Betrieb von Fachverfahren",
        "operations",
        Unit.HOUR,
        "95.00",
        VatCategory.NOT_TAXABLE,
        None,
        "Installation, Aktualisierung und Überwachung kommunaler Fachverfahren durch das KDZ Mainz, "
        "abgerechnet nach geleisteten Stunden.",
    ),
    (
        "anbieter@kdz-mainz.example",
        "Lizenzmanagement Microsoft 365",
        "licence-management",
        Unit.USER_MONTH,
        "4.50",
        VatCategory.NOT_TAXABLE,
        None,
        "Beschaffung, Zuweisung und Prüfung von Microsoft-Lizenzen je Nutzerin und Nutzer und Monat.",
    ),
    (
        "anbieter@ekom21.example",
        "Objektspeicher (S3-kompatibel)",
        "hosting",
        Unit.GB_MONTH,
        "0.04",
        VatCategory.STANDARD,
        None,
        "Georedundanter Objektspeicher in hessischen Rechenzentren, abgerechnet je Gigabyte und Monat.",
    ),
    (
        "anbieter@ekom21.example",
        "IT-Sicherheitsberatung",
        "consulting",
        Unit.HOUR,
        "120.00",
        VatCategory.STANDARD,
        None,
        "Beratung zu Informationssicherheit, ISMS und Notfallvorsorge durch zertifizierte Fachleute.",
    ),
    (
        "anbieter@ekom21.example",
        "Service-Desk (Second Level)",
        "support",
        Unit.MONTH,
        "1450.00",
        VatCategory.NOT_TAXABLE,
        5,
        "Telefonischer und schriftlicher Service-Desk für Fachverfahren, werktags 7 bis 18 Uhr.",
    ),
]


#: Invoice profiles: Stadt Wiesbaden pays by the operator's SEPA debit and books to one cost centre;
#: Landkreis Darmstadt-Dieburg clears through the settlement (the default, no profile needed).
INVOICE_PROFILES = {
    "Stadt Wiesbaden": {
        "payment_way": PaymentWay.DEBIT,
        "mandate_reference": "KOPIT-LB-WI-0001",
        "mandate_iban": "DE75512108001245126199",
        "buyer_accounting_reference": "KST 1201 IT-Dienstleistungen",
    },
}


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None  # noqa: S101 - created just above
    return user


def _past_booking(buyer: User, service: Service, starts_on: date, quantity: int, ends_on: date | None) -> Booking:
    """A booking requested in the past (operations refuse past start dates for new requests)."""
    profile = invoice_profile_of(buyer.member_id)
    booking = Booking(
        service_id=service.id,
        buyer_id=buyer.member_id,
        requested_by_id=buyer.id,
        quantity=quantity,
        starts_on=starts_on,
        ends_on=ends_on,
        status=BookingStatus.REQUESTED,
        **{reference.value: profile.default(reference) for reference in InvoiceReference},
    )
    db.session.add(booking)
    db.session.flush()
    db.session.add(BookingEvent(booking_id=booking.id, to_status=BookingStatus.REQUESTED, actor_id=buyer.id))
    db.session.flush()
    return booking


def seed_demo_data(*, exchange: bool = False) -> bool:
    """Create the demo data unless it exists; returns True when it was created.

    `exchange` adds the wider exchange (`marketplace.seed_exchange`: three more providers, 30+ services with
    SLAs, bookings in every state), as `flask seed-demo` does; the tests' fixture keeps to the core demo,
    whose figures they check.
    """
    if db.session.scalar(select(Member.id).where(Member.name == "KOPIT eG")) is not None:
        return False
    members = {spec["name"]: admit_member(None, **spec) for spec in MEMBERS}
    for member_name, email, name, roles in USERS:
        create_user(None, member=members[member_name], email=email, name=name, password=DEMO_PASSWORD, roles=roles)
    for member_name, profile in INVOICE_PROFILES.items():
        db.session.add(InvoiceProfile(member_id=members[member_name].id, **profile))
    db.session.flush()

    services: dict[str, Service] = {}
    for email, title, category, unit, price, vat, capacity, description in SERVICES:
        services[title] = create_service(
            _user(email),
            ServiceInput(
                title=title,
                description=description,
                category=category,
                unit=unit,
                unit_price=Decimal(price),
                vat_category=vat,
                capacity=capacity,
                capacity_set=True,
                status=ServiceStatus.PUBLISHED,
                # Services between public bodies under a public-law agreement, at cost (§ 2b Abs. 3 Nr. 2 UStG).
                tax_reasons=list(TaxReason) if vat is VatCategory.NOT_TAXABLE else None,
            ),
        )

    last_month = previous_month(today())
    two_ago = previous_month(last_month)
    three_ago = previous_month(two_ago)
    wiesbaden, ladadi = _user("einkauf@wiesbaden.example"), _user("einkauf@ladadi.example")
    kdz, ekom = _user("anbieter@kdz-mainz.example"), _user("anbieter@ekom21.example")

    history = [
        (wiesbaden, "Virtueller Server (Standard)", three_ago, 4, None, kdz),
        (wiesbaden, "Lizenzmanagement Microsoft 365", three_ago, 1, None, kdz),
        (wiesbaden, "Objektspeicher (S3-kompatibel)", two_ago, 1, None, ekom),
        (ladadi, "Virtueller Server (Standard)", two_ago.replace(day=10), 2, None, kdz),
        (ladadi, "Service-Desk (Second Level)", three_ago, 1, last_month.replace(day=15), ekom),
        (ladadi, "Betrieb von Fachverfahren", two_ago, 1, None, kdz),
    ]
    accepted: dict[tuple[str, str], Booking] = {}
    for buyer, title, starts_on, quantity, ends_on, provider in history:
        booking = _past_booking(buyer, services[title], starts_on, quantity, ends_on)
        accept_booking(provider, booking)
        accepted[(buyer.email, title)] = booking

    usage = [
        (("einkauf@wiesbaden.example", "Lizenzmanagement Microsoft 365"), [three_ago, two_ago, last_month], "350"),
        (("einkauf@wiesbaden.example", "Objektspeicher (S3-kompatibel)"), [two_ago, last_month], "5120"),
        (("einkauf@ladadi.example", "Betrieb von Fachverfahren"), [two_ago, last_month], "12.5"),
    ]
    for key, months, quantity in usage:
        booking = accepted[key]
        for month in months:
            db.session.add(
                UsageRecord(
                    booking_id=booking.id,
                    period=period_of(month),
                    quantity=Decimal(quantity),
                    created_by_id=booking.service.created_by_id,
                    # recorded at the month's end, at least 15 days ago: its review period is over, so the
                    # record counts as accepted (the buyer did not answer) and can be billed
                    entered_at=_entered_at(month),
                    created_at=_entered_at(month),
                )
            )
    db.session.flush()
    # Stadt Wiesbaden confirmed last month's licence count explicitly.
    licences = accepted[("einkauf@wiesbaden.example", "Lizenzmanagement Microsoft 365")]
    confirmed = db.session.scalar(
        select(UsageRecord).where(UsageRecord.booking_id == licences.id, UsageRecord.period == period_of(last_month))
    )
    assert confirmed is not None  # noqa: S101 - added just above
    confirmed.status = UsageStatus.CONFIRMED
    confirmed.reviewed_at = _entered_at(last_month)
    confirmed.reviewed_by_id = wiesbaden.id
    # This month's hours so far, waiting for the Landkreis's review (confirm or dispute on the booking page).
    hours = accepted[("einkauf@ladadi.example", "Betrieb von Fachverfahren")]
    db.session.add(
        UsageRecord(booking_id=hours.id, period=period_of(today()), quantity=Decimal("3"), created_by_id=kdz.id)
    )
    db.session.flush()

    # A request still waiting for KDZ Mainz's decision.
    _past_booking(ladadi, services["Lizenzmanagement Microsoft 365"], today(), 120, None)

    # Every month before last is billed and closed, in order; last month is open and unbilled, so it can be
    # billed, closed, released and settled right away.
    operator = _user("betrieb@kopit.example")
    for month in (three_ago, two_ago):
        run_billing(operator, period_of(month))
        db.session.commit()  # each ledger posting gets a transaction of its own (see ledger.operations)
        close_period(operator, period_of(month))
        db.session.commit()
    _releases_and_a_correction(period_of(three_ago), period_of(two_ago))
    if exchange:
        seed_exchange()  # more providers, services and bookings, none of them in the history above
        _usage_this_month(accepted)
    return True


def _usage_this_month(accepted: dict[tuple[str, str], Booking]) -> None:
    """This month's usage so far at Stadt Wiesbaden, as the README's demo logins find it: KDZ Mainz's licence
    count waits for Wiesbaden's review, and Wiesbaden disputed ekom21's storage figure, for ekom21 to correct.

    Only in the full demo (`flask seed-demo`): the tests' core demo keeps the figures they check."""
    month = period_of(today())
    licences = accepted[("einkauf@wiesbaden.example", "Lizenzmanagement Microsoft 365")]
    record_usage(_user("anbieter@kdz-mainz.example"), licences, month, Decimal("340"))
    storage = accepted[("einkauf@wiesbaden.example", "Objektspeicher (S3-kompatibel)")]
    disputed = record_usage(_user("anbieter@ekom21.example"), storage, month, Decimal("6144"))
    dispute_usage(
        _user("einkauf@wiesbaden.example"),
        disputed,
        "Unser Bucket wurde am 3. November auf 5.120 GB verkleinert; bitte die Messung prüfen.",
    )
    db.session.flush()


def _entered_at(month: date) -> datetime:
    """When the demo's usage of `month` was recorded: its last day, but no later than 15 days ago."""
    last = month_bounds(month)[1]
    day = min(last, today() - timedelta(days=USAGE_REVIEW_DAYS + 1))
    return datetime.combine(day, time(17, 0), tzinfo=UTC)


def _releases_and_a_correction(closed: str, billed: str) -> None:
    """Stadt Wiesbaden's cash office released its invoices of the closed month, the Landkreis's still waits;
    Wiesbaden disputed the licences billed for the month after, an open correction case for the operator."""
    wiesbaden = _user("kasse@wiesbaden.example")
    for invoice_id in db.session.scalars(
        select(Invoice.id).where(
            Invoice.period == closed,
            Invoice.buyer_id == wiesbaden.member_id,
            Invoice.type_code == DocumentType.INVOICE,
        )
    ):
        release_invoice(wiesbaden, invoice_id)
    licences = db.session.scalar(
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Service.title == "Lizenzmanagement Microsoft 365", UsageRecord.period == billed)
    )
    if licences is not None:
        dispute_billed_usage(
            _user("einkauf@wiesbaden.example"),
            licences.id,
            "Im Monat waren nur 320 Lizenzen zugewiesen; 30 Konten wurden zum Monatsanfang gelöscht.",
        )
