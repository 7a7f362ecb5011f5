"""XRechnung 3.0 in UBL 2.1 syntax for invoices (Invoice, type 380 or 326) and credit notes (CreditNote, 381).

Built with the standard library only; validated in the tests against the UBL XSD, the EN 16931 rules and
the German XRechnung rules (BR-DE-*). Element order follows the UBL 2.1 schemas exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from sqlalchemy import select

from marketplace.catalogue.models import VatCategory, exemption_of
from marketplace.core.money import from_cents
from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice, InvoiceLine

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

#: UNTDID 4461 names of the payment means the exchange uses.
PAYMENT_MEANS_NAMES = {"97": "Clearing between partners", "59": "SEPA direct debit", "58": "SEPA credit transfer"}


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
    """(VATEX code, reason text) for O and E, as the document stored them at issue from its bookings'
    snapshots; None for S. A document without them (a cost-sharing document) states the category's default."""
    if invoice.vat_category is VatCategory.STANDARD:
        return None
    if invoice.vat_exemption_code and invoice.vat_exemption_reason:
        return invoice.vat_exemption_code, invoice.vat_exemption_reason
    return exemption_of(invoice.vat_category, None, None)


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


def payee_of(invoice: Invoice) -> Member | None:
    """Who receives the money the document names (BG-10 where it is not the seller): the operator for a
    debit, the receiver or the operator for a transfer; None for clearing through the settlement."""
    return invoice.payee


def _operator_name() -> str:
    return db.session.scalar(select(Member.name).where(Member.is_operator.is_(True))) or "Betreiber"


def payment_note(invoice: Invoice) -> str:
    """The payment terms (BT-20) in words: how the money really moves for this document."""
    due = f"{invoice.due_date:%d.%m.%Y}"
    credit = invoice.is_credit_note
    code = invoice.payment_means_code
    payee = invoice.payee
    if code == "59":
        operator = payee.name if payee is not None else _operator_name()
        if credit:
            return (
                f"Die Gutschrift wird in der monatlichen Verrechnung der Leistungsbörse ({operator}) mit dem "
                f"SEPA-Lastschrifteinzug verrechnet (Mandat {invoice.mandate_reference}, Gläubiger-ID "
                f"{invoice.creditor_id}); das Zahlungsavis der Verrechnung nennt den Saldo."
            )
        return (
            f"Fällig am {due} ohne Abzug. Der Betrag wird von {operator} per SEPA-Lastschrift eingezogen "
            f"(Mandat {invoice.mandate_reference}, Gläubiger-ID {invoice.creditor_id}, Konto "
            f"{invoice.payment_account}), zusammen mit den übrigen Dokumenten des Monats laut Zahlungsavis der "
            "Verrechnung. Bitte nicht überweisen."
        )
    if code == "58":
        name = payee.name if payee is not None else ""
        verb = "Erstattung" if credit else "Zahlbar"
        return (
            f"{verb} ohne Abzug bis {due} per SEPA-Überweisung an {name}, IBAN {invoice.payment_account}, "
            f"Verwendungszweck {invoice.number}."
        )
    lead = "Die Gutschrift" if credit else f"Fällig am {due} ohne Abzug. Der Betrag"
    return (
        f"{lead} wird in der monatlichen Verrechnung der Leistungsbörse ({_operator_name()}) mit den übrigen "
        "Rechnungen und Gutschriften ausgeglichen; was zu zahlen oder zu erhalten ist, nennt das Zahlungsavis "
        "der Verrechnung. Bitte nicht an den Rechnungssteller überweisen."
    )


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
    if invoice.buyer_accounting_reference:  # BT-19
        _cbc(root, "AccountingCost", invoice.buyer_accounting_reference)
    # BT-10 (BR-DE-15): the buyer's Leitweg-ID.
    _cbc(root, "BuyerReference", buyer.leitweg_id or f"LB-MITGLIED-{buyer.id}")
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", invoice.service_start.isoformat())
    _cbc(period, "EndDate", invoice.service_end.isoformat())
    if invoice.order_reference:  # BT-13
        _cbc(_cac(root, "OrderReference"), "ID", invoice.order_reference)
    if credit and invoice.credited_invoice is not None:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", invoice.credited_invoice.number)
        _cbc(reference, "IssueDate", invoice.credited_invoice.issue_date.isoformat())
    # BG-3: the earlier invoices this one settles (a final invoice's advance invoices), as stored at issue
    for preceding in invoice.preceding:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", preceding.number)
        _cbc(reference, "IssueDate", preceding.issue_date.isoformat())
    if invoice.contract_reference:  # BT-12
        _cbc(_cac(root, "ContractDocumentReference"), "ID", invoice.contract_reference)
    if invoice.project_reference:  # BT-11: a CreditNote has no ProjectReference, it names the project this way
        if credit:
            project = _cac(root, "AdditionalDocumentReference")
            _cbc(project, "ID", invoice.project_reference)
            _cbc(project, "DocumentTypeCode", "50")
        else:
            _cbc(_cac(root, "ProjectReference"), "ID", invoice.project_reference)

    _party(_cac(root, "AccountingSupplierParty"), provider, seller=True, invoice=invoice)
    _party(_cac(root, "AccountingCustomerParty"), buyer, seller=False, invoice=invoice)

    _payment(root, invoice)

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
    if invoice.prepaid_cents:  # BT-113: e.g. a final invoice's advance invoices, fixed at issue
        _amount(totals, "PrepaidAmount", invoice.prepaid_cents)
    _amount(totals, "PayableAmount", invoice.due_cents)

    for line in invoice.lines:
        _line(root, invoice, line)

    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _payment(root: ET.Element, invoice: Invoice) -> None:
    """BG-10 payee, BG-16 payment instructions (with BG-17 credit transfer or BG-19 direct debit) and BT-20
    payment terms, as stored on the document at issue."""
    code = invoice.payment_means_code
    payee = invoice.payee
    if payee is not None and payee.id not in (invoice.provider_id, invoice.buyer_id):
        payee_party = _cac(root, "PayeeParty")
        if code == "59" and invoice.creditor_id:  # BT-90 (BR-DE-30): the collecting operator's creditor id
            _cbc(_cac(payee_party, "PartyIdentification"), "ID", invoice.creditor_id, schemeID="SEPA")
        else:
            _cbc(_cac(payee_party, "PartyIdentification"), "ID", f"LB-MITGLIED-{payee.id}")
        _cbc(_cac(payee_party, "PartyName"), "Name", payee.name)
    means = _cac(root, "PaymentMeans")
    _cbc(means, "PaymentMeansCode", code, name=PAYMENT_MEANS_NAMES.get(code, ""))
    if invoice.is_credit_note:
        _cbc(means, "PaymentDueDate", invoice.due_date.isoformat())
    _cbc(means, "PaymentID", invoice.number)
    if code == "58":
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", invoice.payment_account or "")
        if payee is not None:
            _cbc(account, "Name", payee.name)
            if payee.bic:
                _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", payee.bic)
    elif code == "59":
        mandate = _cac(means, "PaymentMandate")
        _cbc(mandate, "ID", invoice.mandate_reference or "")  # BT-89
        _cbc(_cac(mandate, "PayerFinancialAccount"), "ID", invoice.payment_account or "")  # BT-91
    _cbc(_cac(root, "PaymentTerms"), "Note", payment_note(invoice))


def _quantity(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def _line(root: ET.Element, invoice: Invoice, line: InvoiceLine) -> None:
    """An invoice or credit note line: quantity × net price − allowance = line net (BT-129, BT-146, BG-27,
    BT-131), its period (BG-26) and the buyer's accounting reference (BT-133). Lines issued before quantities
    were stored are one lump sum (C62)."""
    credit = invoice.is_credit_note
    quantity = line.quantity if line.quantity is not None else Decimal(1)
    price = line.unit_price_cents if line.unit_price_cents is not None else line.net_cents
    element = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
    _cbc(element, "ID", str(line.position))
    _cbc(
        element,
        "CreditedQuantity" if credit else "InvoicedQuantity",
        _quantity(quantity),
        unitCode=line.unit_code or "C62",
    )
    _amount(element, "LineExtensionAmount", line.net_cents)
    if line.accounting_reference:
        _cbc(element, "AccountingCost", line.accounting_reference)
    if line.period_start is not None and line.period_end is not None:
        period = _cac(element, "InvoicePeriod")
        _cbc(period, "StartDate", line.period_start.isoformat())
        _cbc(period, "EndDate", line.period_end.isoformat())
    if line.allowance_cents:
        allowance = _cac(element, "AllowanceCharge")
        _cbc(allowance, "ChargeIndicator", "false")
        _cbc(allowance, "AllowanceChargeReason", line.allowance_reason or "Nachlass")
        _amount(allowance, "Amount", line.allowance_cents)
        _amount(allowance, "BaseAmount", line.net_cents + line.allowance_cents)
    item = _cac(element, "Item")
    _cbc(item, "Description", line.description)
    _cbc(item, "Name", line.description.split(" – ")[0][:100] or "Leistung")
    if line.booking_id is not None:
        _cbc(_cac(item, "SellersItemIdentification"), "ID", f"BUCHUNG-{line.booking_id}")
    _tax_category(item, "ClassifiedTaxCategory", invoice, line=True)
    _amount(_cac(element, "Price"), "PriceAmount", price)


def payable_cents(invoice: Invoice) -> int:
    """The amount due of an invoice or credit note (BT-115): its gross less what it states as prepaid."""
    return invoice.due_cents


def filename(invoice: Invoice) -> str:
    kind = "gutschrift" if invoice.is_credit_note else "rechnung"
    return f"xrechnung-{kind}-{invoice.number}.xml"
