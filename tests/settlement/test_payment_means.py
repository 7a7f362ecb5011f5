"""Invoices name the payment means the money really moves by (XRechnung BG-16), fixed at issue from the
payer's invoice profile: the operator's SEPA debit (59: mandate BT-89, debited account BT-91, creditor id
BT-90), clearing through the settlement (97, payment terms naming the exchange and the advice), or a transfer
(58) where that is really the way. Each passes the three layers; each broken the way a careless generator
would break it fails them."""

from __future__ import annotations

import copy

import pytest
from lxml import etree
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.operations import reverse_transfer
from marketplace.settlement.models import Invoice
from tests.settlement.conftest import user

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


def _put_payment(api, member_id: int, payment: dict) -> dict:
    response = api.put(f"/api/v1/members/{member_id}/invoice-profile", json={"payment": payment})
    assert response.status_code == 200, response.text
    return response.get_json()


@pytest.fixture
def paid_documents(app, demo, api_as, close_month, close_through, set_today):
    """Invoices and credit notes of every payment way, set through the API as finance staff would.

    ekom21 pays (its credit notes) by debit, KDZ Mainz by transfer; Stadt Wiesbaden by debit (demo data);
    Landkreis Darmstadt-Dieburg clears in September, then pays by transfer from October on.
    """
    operator = api_as("betrieb@kopit.example")
    ekom, kdz = user("anbieter@ekom21.example").member, user("anbieter@kdz-mainz.example").member
    ladadi = user("einkauf@ladadi.example").member
    _put_payment(
        operator, ekom.id, {"way": "debit", "mandate_reference": "KOPIT-LB-EK-0007", "debited_iban": ekom.iban}
    )
    _put_payment(operator, kdz.id, {"way": "transfer"})
    close_through("2026-09")
    # the Landkreis's own finance staff would: the operator edits it here, which the profile allows too
    _put_payment(operator, ladadi.id, {"way": "transfer"})
    close_month("2026-10")
    september = list(db.session.scalars(select(Invoice).where(Invoice.period == "2026-09")))
    storage = next(i for i in september if i.provider_id == ekom.id)
    server = next(i for i in september if i.provider_id == kdz.id and i.buyer_id == ladadi.id)
    for invoice in (storage, server):
        reverse_transfer(user("betrieb@kopit.example"), invoice.lines[0].transfer_id, "Doppelt berechnet")
        db.session.commit()
    set_today("2026-12-02")
    close_month("2026-11", reason="Stunden vom November noch in Prüfung")  # months close billed, in order
    return {i.number: i for i in db.session.scalars(select(Invoice).order_by(Invoice.id))}


def _tree(api, invoice: Invoice) -> etree._Element:
    response = api.get(f"/api/v1/invoices/{invoice.id}/xrechnung")
    assert response.status_code == 200
    return etree.fromstring(response.data)


def _text(tree, path: str) -> str | None:
    found = tree.find(path, NS)
    return found.text if found is not None else None


def _pick(documents, *, code: str, credit: bool, period: str | None = None) -> Invoice:
    return next(
        d
        for d in documents.values()
        if d.payment_means_code == code and d.is_credit_note == credit and period in (None, d.period)
    )


def test_each_way_of_paying_is_stated_as_it_really_moves(paid_documents, api_as, assert_valid_xrechnung):
    api = api_as("betrieb@kopit.example")
    ekom, kdz = user("anbieter@ekom21.example").member, user("anbieter@kdz-mainz.example").member
    wiesbaden, ladadi = user("kasse@wiesbaden.example").member, user("einkauf@ladadi.example").member

    # 59: Stadt Wiesbaden's invoices, ekom21's credit note: debited by the operator under the payer's mandate
    for document, payer, mandate in (
        (_pick(paid_documents, code="59", credit=False), wiesbaden, "KOPIT-LB-WI-0001"),
        (_pick(paid_documents, code="59", credit=True), ekom, "KOPIT-LB-EK-0007"),
    ):
        assert (document.buyer_id if not document.is_credit_note else document.provider_id) == payer.id
        tree = _tree(api, document)
        assert_valid_xrechnung(etree.tostring(tree))
        assert _text(tree, "cac:PaymentMeans/cbc:PaymentMeansCode") == "59"
        assert _text(tree, "cac:PaymentMeans/cac:PaymentMandate/cbc:ID") == mandate
        assert _text(tree, "cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID") == payer.iban
        assert tree.find("cac:PayeeParty/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']", NS) is not None
        assert tree.find("cac:PaymentMeans/cac:PayeeFinancialAccount", NS) is None

    # 97: the Landkreis's September invoices, issued while it cleared through the settlement
    cleared = max(
        (d for d in paid_documents.values() if d.payment_means_code == "97" and not d.is_credit_note),
        key=lambda d: d.id,
    )
    assert cleared.buyer_id == ladadi.id and cleared.period <= "2026-09"
    tree = _tree(api, cleared)
    assert_valid_xrechnung(etree.tostring(tree))
    terms = _text(tree, "cac:PaymentTerms/cbc:Note")
    assert "Verrechnung der Leistungsbörse (KOPIT eG)" in terms and "Zahlungsavis" in terms
    assert "nicht an den Rechnungssteller überweisen" in terms
    assert tree.find("cac:PaymentMeans/cac:PayeeFinancialAccount", NS) is None
    assert tree.find("cac:PaymentMeans/cac:PaymentMandate", NS) is None

    # 58: the Landkreis's October invoices to the provider's account; KDZ's credit note to the Landkreis's
    for document, payee in (
        (_pick(paid_documents, code="58", credit=False), kdz),
        (_pick(paid_documents, code="58", credit=True), ladadi),
    ):
        tree = _tree(api, document)
        assert_valid_xrechnung(etree.tostring(tree))
        assert _text(tree, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == payee.iban
        assert tree.find("cac:PaymentMeans/cac:PaymentMandate", NS) is None
    october = _pick(paid_documents, code="58", credit=False)
    assert (october.buyer_id, october.period) == (ladadi.id, "2026-10")


def test_a_later_change_of_the_payment_way_alters_no_issued_document(paid_documents, api_as):
    api = api_as("betrieb@kopit.example")
    cleared = _pick(paid_documents, code="97", credit=False)
    before = api.get(f"/api/v1/invoices/{cleared.id}/xrechnung").data
    ladadi = user("einkauf@ladadi.example").member
    assert db.session.get(Invoice, cleared.id).payment_means_code == "97"
    _put_payment(api, ladadi.id, {"way": "debit", "mandate_reference": "LADADI-1", "debited_iban": ladadi.iban})
    assert api.get(f"/api/v1/invoices/{cleared.id}/xrechnung").data == before


def _drop(tree: etree._Element, *paths: str) -> bytes:
    broken = copy.deepcopy(tree)
    for path in paths:
        for element in broken.findall(path, NS):
            element.getparent().remove(element)
    return etree.tostring(broken, xml_declaration=True, encoding="utf-8")


def _failed_rules(validator, xml: bytes) -> set[str]:
    return {error.split(":")[0] for errors in validator.errors(xml).values() for error in errors}


def test_each_way_broken_fails_the_rules(paid_documents, api_as, einvoice_validator):
    """What the rules guard for each way: without them the buyer's inbox could not tell how it is paid."""
    if einvoice_validator.german is None:
        pytest.skip("German XRechnung rules (BR-DE-*) not found: the debit and transfer cases need them")
    api = api_as("betrieb@kopit.example")
    debit = _tree(api, _pick(paid_documents, code="59", credit=False))
    assert _failed_rules(einvoice_validator, etree.tostring(debit)) == set()
    # a debit without its mandate (BG-19) is no debit at all
    assert "BR-DE-25-a" in _failed_rules(einvoice_validator, _drop(debit, "cac:PaymentMeans/cac:PaymentMandate"))
    # ... nor without the account to debit (BT-91) or the creditor identifier (BT-90)
    no_account = _drop(debit, "cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount")
    assert "BR-DE-31" in _failed_rules(einvoice_validator, no_account)
    no_creditor = _drop(debit, "cac:PayeeParty/cac:PartyIdentification")
    assert "BR-DE-30" in _failed_rules(einvoice_validator, no_creditor)

    # clearing: an invoice must still say how it is paid (BG-16), the settlement is not implied
    cleared = _tree(api, _pick(paid_documents, code="97", credit=False))
    assert _failed_rules(einvoice_validator, etree.tostring(cleared)) == set()
    assert "BR-DE-1" in _failed_rules(einvoice_validator, _drop(cleared, "cac:PaymentMeans"))

    # a transfer without the account to pay to (BT-84)
    transfer = _tree(api, _pick(paid_documents, code="58", credit=False))
    broken = _drop(transfer, "cac:PaymentMeans/cac:PayeeFinancialAccount")
    assert {"BR-DE-23-a", "BR-61"} & _failed_rules(einvoice_validator, broken)


def test_a_debit_needs_mandate_account_and_the_operators_creditor_id(app, demo, api_as):
    api = api_as("kasse@wiesbaden.example")
    wiesbaden = user("kasse@wiesbaden.example").member
    path = f"/api/v1/members/{wiesbaden.id}/invoice-profile"
    response = api.put(path, json={"payment": {"way": "debit"}})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) >= {"mandate_reference", "mandate_iban"}
    response = api.put(path, json={"payment": {"way": "debit", "mandate_reference": "A//B", "debited_iban": "DE1"}})
    assert response.status_code == 422 and {"mandate_reference", "mandate_iban"} <= set(response.get_json()["errors"])
    operator = user("betrieb@kopit.example").member
    operator.sepa_creditor_id = None
    db.session.commit()
    response = api.put(
        path, json={"payment": {"way": "debit", "mandate_reference": "WI-2", "debited_iban": wiesbaden.iban}}
    )
    assert response.status_code == 422 and "payment_way" in response.get_json()["errors"]
    # the operator names its creditor identifier (checked: a wrong check digit is refused)
    operator_api = api_as("betrieb@kopit.example")
    bad = operator_api.put(
        f"/api/v1/members/{operator.id}/invoice-profile", json={"sepa_creditor_id": "DE97ZZZ09999999999"}
    )
    assert bad.status_code == 422 and "sepa_creditor_id" in bad.get_json()["errors"]
    good = operator_api.put(
        f"/api/v1/members/{operator.id}/invoice-profile", json={"sepa_creditor_id": "DE98 ZZZ0 9999 9999 99"}
    )
    assert good.status_code == 200 and good.get_json()["sepa_creditor_id"] == "DE98ZZZ09999999999"
    response = api.put(
        path, json={"payment": {"way": "debit", "mandate_reference": "WI-2", "debited_iban": wiesbaden.iban}}
    )
    assert response.status_code == 200, response.text
    assert response.get_json()["payment"] == {
        "way": "debit",
        "payment_means_code": "59",
        "mandate_reference": "WI-2",
        "debited_iban": wiesbaden.iban,
    }


def test_a_debit_whose_mandate_went_missing_is_issued_as_clearing(app, demo, close_through):
    """The issue never writes a debit the rules would reject: without the operator's creditor id the document
    says clearing, which is how its money then moves."""
    wiesbaden = user("kasse@wiesbaden.example").member
    before = {i.payment_means_code for i in db.session.scalars(select(Invoice).where(Invoice.buyer_id == wiesbaden.id))}
    assert before == {"59"}  # closed by the demo while the operator had its creditor id
    operator = user("betrieb@kopit.example").member
    operator.sepa_creditor_id = None
    db.session.commit()
    months = close_through("2026-10")
    after = db.session.scalars(select(Invoice).where(Invoice.buyer_id == wiesbaden.id, Invoice.period.in_(months)))
    assert months and {i.payment_means_code for i in after} == {"97"}
