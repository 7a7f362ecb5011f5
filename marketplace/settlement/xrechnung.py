"""XRechnung 3.0 in UBL 2.1 syntax for invoices (Invoice, type 380) and credit notes (CreditNote, 381).

Built with the standard library only; validated in the tests against the UBL XSD, the EN 16931 rules and
the German XRechnung rules (BR-DE-*). Element order follows the UBL 2.1 schemas exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from sqlalchemy import select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import VatCategory
from marketplace.core.money import from_cents
from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ET.register_namespace("cac", NS["cac"])
ET.register_namespace("cbc", NS["cbc"])
ET.register_namespace("ubl", NS["inv"])
ET.register_namespace("cn", NS["cn"])

#: Exemption reasons (BT-120) and codes (BT-121) when the service names none of its own.
DEFAULT_EXEMPTION: dict[VatCategory, tuple[str, str]] = {
    VatCategory.NOT_TAXABLE: (
        "VATEX-EU-O",
        "Nicht steuerbar: Leistung einer juristischen Person des öffentlichen Rechts im Rahmen ihrer "
        "hoheitlichen Tätigkeit (§ 2b UStG)",
    ),
    VatCategory.EXEMPT: ("VATEX-EU-132", "Steuerbefreit nach Art. 132 MwStSystRL (§ 4 UStG)"),
}


def _cbc(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS['cbc']}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS['cac']}}}{name}")


def _amount(parent: ET.Element, name: str, cents: int) -> None:
    _cbc(parent, name, f"{from_cents(cents):.2f}", currencyID="EUR")


def _rate(rate: Decimal) -> str:
    return f"{Decimal(rate):.2f}"


def exemption(invoice: Invoice) -> tuple[str, str] | None:
    """(VATEX code, reason text) for O and E; None for S. A service's own VATEX code wins for E."""
    if invoice.vat_category is VatCategory.STANDARD:
        return None
    code, text = DEFAULT_EXEMPTION[invoice.vat_category]
    for line in invoice.lines:
        service = _service_of(line.booking_id)
        if service is None:
            continue
        own_code = getattr(service, "vatex_code", None)
        own_basis = getattr(service, "tax_legal_basis", "") or ""
        if invoice.vat_category is VatCategory.EXEMPT and own_code:
            code = own_code
        if own_basis:
            lead = "Nicht steuerbar" if invoice.vat_category is VatCategory.NOT_TAXABLE else "Steuerfrei"
            text = f"{lead} nach {own_basis}"
        break
    return code, text


def _service_of(booking_id: int | None):
    if booking_id is None:
        return None
    booking = db.session.get(Booking, booking_id)
    return booking.service if booking is not None else None


def vat_identifier(member: Member) -> str | None:
    """The VAT id with its country prefix (BR-CO-09); members store the German number compact."""
    if not member.vat_id:
        return None
    return member.vat_id if member.vat_id[:2].isalpha() else f"DE{member.vat_id}"


def _party(parent: ET.Element, member: Member, *, seller: bool, invoice: Invoice) -> None:
    party = _cac(parent, "Party")
    # BT-34 / BT-49: electronic addresses. The buyer is addressed by its Leitweg-ID (EAS 0204), the
    # seller by e-mail (EAS EM).
    if not seller and member.leitweg_id:
        _cbc(party, "EndpointID", member.leitweg_id, schemeID="0204")
    else:
        _cbc(
            party, "EndpointID", member.contact_email or f"rechnung-{member.id}@leistungsboerse.invalid", schemeID="EM"
        )
    identification = _cac(party, "PartyIdentification")
    _cbc(identification, "ID", f"LB-MITGLIED-{member.id}")
    _cbc(_cac(party, "PartyName"), "Name", member.name)
    address = _cac(party, "PostalAddress")
    _cbc(address, "StreetName", member.street or "-")
    _cbc(address, "CityName", member.city or "-")
    _cbc(address, "PostalZone", member.postcode or "-")
    _cbc(_cac(address, "Country"), "IdentificationCode", "DE")
    # BR-O-02: no VAT identifier at all on a not-taxable invoice; S and E need BT-31 or BT-32.
    if seller and invoice.vat_category is not VatCategory.NOT_TAXABLE:
        if member.vat_id:
            scheme = _cac(party, "PartyTaxScheme")
            _cbc(scheme, "CompanyID", vat_identifier(member))
            _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
        if member.tax_number:
            scheme = _cac(party, "PartyTaxScheme")
            _cbc(scheme, "CompanyID", member.tax_number)
            _cbc(_cac(scheme, "TaxScheme"), "ID", "FC")
    legal = _cac(party, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", member.name)
    if seller:
        contact = _cac(party, "Contact")
        _cbc(contact, "Name", member.contact_name or member.name)
        _cbc(contact, "Telephone", member.contact_phone or "-")
        _cbc(contact, "ElectronicMail", member.contact_email or "-")
    elif member.contact_name or member.contact_email:
        contact = _cac(party, "Contact")
        if member.contact_name:
            _cbc(contact, "Name", member.contact_name)
        if member.contact_phone:
            _cbc(contact, "Telephone", member.contact_phone)
        if member.contact_email:
            _cbc(contact, "ElectronicMail", member.contact_email)


def payee_of(invoice: Invoice) -> Member:
    """Who receives the money: the provider (the buyer for a credit note), or the operator, which clears
    all payments of the exchange, when that member has no IBAN on record."""
    payee = invoice.buyer if invoice.is_credit_note else invoice.provider
    if payee.iban:
        return payee
    operator = db.session.scalar(select(Member).where(Member.is_operator.is_(True)))
    return operator if operator is not None and operator.iban else payee


def _tax_category(parent: ET.Element, name: str, invoice: Invoice, *, line: bool) -> None:
    category = _cac(parent, name)
    _cbc(category, "ID", invoice.vat_category.value)
    # BR-O-05: a not-taxable line carries no rate; BR-DE-14: the breakdown always does.
    if not (line and invoice.vat_category is VatCategory.NOT_TAXABLE):
        _cbc(category, "Percent", _rate(invoice.vat_rate))
    if not line:
        reason = exemption(invoice)
        if reason is not None:
            _cbc(category, "TaxExemptionReasonCode", reason[0])
            _cbc(category, "TaxExemptionReason", reason[1])
    _cbc(_cac(category, "TaxScheme"), "ID", "VAT")


def render(invoice: Invoice) -> bytes:
    """The XRechnung XML of an invoice or credit note, UTF-8 with an XML declaration."""
    credit = invoice.is_credit_note
    root_ns = NS["cn"] if credit else NS["inv"]
    root = ET.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}")
    provider, buyer = invoice.provider, invoice.buyer

    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", invoice.number)
    _cbc(root, "IssueDate", invoice.issue_date.isoformat())
    if not credit:
        _cbc(root, "DueDate", invoice.due_date.isoformat())
        _cbc(root, "InvoiceTypeCode", invoice.type_code.value)
    else:
        _cbc(root, "CreditNoteTypeCode", invoice.type_code.value)
    _cbc(root, "Note", f"Leistungsbörse: Kostenerstattung unter öffentlichen Stellen, Monat {invoice.period}.")
    _cbc(root, "DocumentCurrencyCode", "EUR")
    # BT-10 (BR-DE-15): the buyer's Leitweg-ID.
    _cbc(root, "BuyerReference", buyer.leitweg_id or f"LB-MITGLIED-{buyer.id}")
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", invoice.service_start.isoformat())
    _cbc(period, "EndDate", invoice.service_end.isoformat())
    if credit and invoice.credited_invoice is not None:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", invoice.credited_invoice.number)
        _cbc(reference, "IssueDate", invoice.credited_invoice.issue_date.isoformat())

    _party(_cac(root, "AccountingSupplierParty"), provider, seller=True, invoice=invoice)
    _party(_cac(root, "AccountingCustomerParty"), buyer, seller=False, invoice=invoice)

    # BG-16: SEPA credit transfer (58) to the account of whoever receives the money; the operator's
    # clearing account (as payee, BG-10) when that member has given no IBAN.
    payee = payee_of(invoice)
    if payee.id not in (provider.id, buyer.id):
        payee_party = _cac(root, "PayeeParty")
        _cbc(_cac(payee_party, "PartyIdentification"), "ID", f"LB-MITGLIED-{payee.id}")
        _cbc(_cac(payee_party, "PartyName"), "Name", payee.name)
    means = _cac(root, "PaymentMeans")
    _cbc(means, "PaymentMeansCode", "58", **{"name": "SEPA credit transfer"})
    if credit:
        _cbc(means, "PaymentDueDate", invoice.due_date.isoformat())
    _cbc(means, "PaymentID", invoice.number)
    account = _cac(means, "PayeeFinancialAccount")
    _cbc(account, "ID", payee.iban or "")
    _cbc(account, "Name", payee.name)
    if payee.bic:
        _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", payee.bic)
    terms = _cac(root, "PaymentTerms")
    verb = "Erstattung" if credit else "Zahlbar"
    _cbc(
        terms,
        "Note",
        f"{verb} ohne Abzug bis {invoice.due_date:%d.%m.%Y}; der Ausgleich erfolgt über die monatliche "
        "Verrechnung der Leistungsbörse.",
    )

    tax_total = _cac(root, "TaxTotal")
    _amount(tax_total, "TaxAmount", invoice.vat_cents)
    subtotal = _cac(tax_total, "TaxSubtotal")
    _amount(subtotal, "TaxableAmount", invoice.net_cents)
    _amount(subtotal, "TaxAmount", invoice.vat_cents)
    _tax_category(subtotal, "TaxCategory", invoice, line=False)

    totals = _cac(root, "LegalMonetaryTotal")
    _amount(totals, "LineExtensionAmount", invoice.net_cents)
    _amount(totals, "TaxExclusiveAmount", invoice.net_cents)
    _amount(totals, "TaxInclusiveAmount", invoice.gross_cents)
    prepaid = prepaid_cents(invoice)
    if prepaid:
        _amount(totals, "PrepaidAmount", prepaid)
    _amount(totals, "PayableAmount", invoice.gross_cents - prepaid)

    for line in invoice.lines:
        element = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(element, "ID", str(line.position))
        _cbc(element, "CreditedQuantity" if credit else "InvoicedQuantity", "1", unitCode="C62")
        _amount(element, "LineExtensionAmount", line.net_cents)
        item = _cac(element, "Item")
        _cbc(item, "Description", line.description)
        _cbc(item, "Name", line.description.split(" – ")[0][:100] or "Leistung")
        if line.booking_id is not None:
            _cbc(_cac(item, "SellersItemIdentification"), "ID", f"BUCHUNG-{line.booking_id}")
        _tax_category(item, "ClassifiedTaxCategory", invoice, line=True)
        _amount(_cac(element, "Price"), "PriceAmount", line.net_cents)

    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def prepaid_cents(invoice: Invoice) -> int:
    """What the document states as already paid (BT-113): a cost-sharing final invoice's advances, else 0."""
    from marketplace.costsharing.queries import prepaid_cents  # a final invoice's advances (BT-113)

    return prepaid_cents(invoice)


def payable_cents(invoice: Invoice) -> int:
    """The amount due of an invoice or credit note (BT-115): its gross less what it states as prepaid."""
    return invoice.gross_cents - prepaid_cents(invoice)


def filename(invoice: Invoice) -> str:
    kind = "gutschrift" if invoice.is_credit_note else "rechnung"
    return f"xrechnung-{kind}-{invoice.number}.xml"
