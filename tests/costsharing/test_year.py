"""A whole year of cost sharing through the interfaces people and systems use.

Two plans for 2027 (the demo has closed every month up to September 2026 and months close in order, so the
year follows the demo's open months): KDZ Mainz's network (not taxable, by inhabitants) and ekom21's firewall
(19 % VAT, equal shares). Stadt Wiesbaden takes part all year, Stadt Mainz joins on 1 April (entered after March
was billed), Landkreis Darmstadt-Dieburg leaves on 30 September (entered after August was billed). The
operator bills and closes every month through the API; the providers true up through their pages, one
at a higher and one at a lower actual cost. Then: each participant paid exactly its final share (net,
and gross with VAT as invoiced), the ledger verifies and sums to zero, and every invoice, final invoice
(advances as prepaid, BT-113) and credit note passes the three-layer XRechnung validation.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from marketplace.catalogue.models import VatCategory
from marketplace.costsharing.models import Advance, CostSharingPlan, TrueUp
from marketplace.extensions import db
from marketplace.ledger.models import Posting, Transfer
from marketplace.members.models import MemberKind
from marketplace.settlement.models import DocumentType, Invoice
from marketplace.settlement.xrechnung import render
from tests.conftest import login, post_form
from tests.costsharing.conftest import accept, member, verify_ledger

KDZ, EKOM = "anbieter@kdz-mainz.example", "anbieter@ekom21.example"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]


def fresh(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _create_plan(client, service, planned, key):
    response = post_form(
        client,
        "/cost-sharing/",
        "/cost-sharing/",
        {"service_id": service.id, "year": "2027", "planned_cost": planned, "allocation_key": key},
    )
    assert response.status_code == 302, response.text
    return db.session.scalar(select(CostSharingPlan).where(CostSharingPlan.service_id == service.id))


def _add(client, plan, name, joins, **extra):
    url = f"/cost-sharing/{plan.id}"
    response = post_form(
        client, url, f"{url}/participants", {"p-member_id": member(name).id, "p-joins_on": joins, **extra}
    )
    assert response.status_code == 302, response.text
    accept(plan, name)  # the invited member's staff agree
    db.session.commit()


def _leave(client, plan, name, day):
    participant = plan.participant_of(member(name).id)
    url = f"/cost-sharing/{plan.id}"
    response = post_form(
        client, url, f"{url}/participants/{participant.id}/leave", {f"l{participant.id}-leaves_on": day}
    )
    assert response.status_code == 302, response.text


def _moved(keys_like: str, member_id: int) -> int:
    """What a member's clearing account gained from transfers whose key matches `keys_like`."""
    from marketplace.ledger.models import Account

    return db.session.scalar(
        select(func.coalesce(func.sum(Posting.amount_cents), 0))
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .join(Account, Account.id == Posting.account_id)
        .where(Transfer.idempotency_key.like(keys_like), Account.member_id == member_id)
    )


def test_a_year_with_a_joiner_and_a_leaver_trued_up_higher_and_lower(
    app, demo, client, api_as, shared_service, create_member, assert_valid_xrechnung
):
    create_member(
        "Stadt Mainz",
        MemberKind.MUNICIPALITY,
        iban="DE44500105175407324931",
        street="Jockel-Fuchs-Platz 1",
        postcode="55116",
        city="Mainz",
    )
    network = shared_service(KDZ, VatCategory.NOT_TAXABLE, "Gemeinsames Kommunalnetz")
    firewall = shared_service(EKOM, VatCategory.STANDARD, "Gemeinsame Firewall")
    kdz, ekom = fresh(app, KDZ), fresh(app, EKOM)
    operator = api_as("betrieb@kopit.example")

    net_plan = _create_plan(kdz, network, "120.000,00", "population")
    _add(
        kdz, net_plan, "Stadt Wiesbaden", "2026-01-01", **{"p-population": "278609", "p-population_date": "2023-12-31"}
    )
    _add(
        kdz,
        net_plan,
        "Landkreis Darmstadt-Dieburg",
        "2027-01-01",
        **{"p-population": "300117", "p-population_date": "2023-12-31"},
    )
    fw_plan = _create_plan(ekom, firewall, "36.000,00", "equal")
    _add(ekom, fw_plan, "Stadt Wiesbaden", "2027-01-01")
    _add(ekom, fw_plan, "Landkreis Darmstadt-Dieburg", "2027-01-01")

    # the demo's open months first: months close in order (each billed on the 16th of the month after)
    for period in ("2026-10", "2026-11", "2026-12", *MONTHS):
        year, month = int(period[:4]), int(period[5:])
        app.config["MARKETPLACE_TODAY"] = f"{year + month // 12}-{month % 12 + 1:02d}-16"
        if period == "2027-04":  # Stadt Mainz joins on 1 April
            _add(
                kdz,
                net_plan,
                "Stadt Mainz",
                "2027-04-01",
                **{"p-population": "220552", "p-population_date": "2023-12-31"},
            )
            _add(ekom, fw_plan, "Stadt Mainz", "2027-04-01")
        if period == "2027-09":  # the Landkreis leaves at the end of September
            _leave(kdz, net_plan, "Landkreis Darmstadt-Dieburg", "2027-09-30")
            _leave(ekom, fw_plan, "Landkreis Darmstadt-Dieburg", "2027-09-30")
        billed = operator.post("/api/v1/billing-runs", json={"period": period})
        assert billed.status_code in (200, 201), billed.text
        assert operator.post("/api/v1/billing-runs", json={"period": period}).json["transfers_created"] == 0
        assert operator.post(f"/api/v1/periods/{period}/close").status_code == 200

    wiesbaden, ladadi, mainz = (member(n).id for n in ("Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg", "Stadt Mainz"))
    months_charged: dict[tuple[int, int], list[str]] = defaultdict(list)
    for advance in db.session.scalars(select(Advance).order_by(Advance.period)):
        months_charged[(advance.plan_id, advance.member_id)].append(advance.period)
    for plan in (net_plan, fw_plan):
        assert months_charged[(plan.id, wiesbaden)] == MONTHS
        assert months_charged[(plan.id, mainz)] == MONTHS[3:]
        assert months_charged[(plan.id, ladadi)] == MONTHS[:9]
    # equal shares while two take part: the firewall's January advance is 36,000 / 12 / 2
    january = db.session.scalar(select(Advance).where(Advance.plan_id == fw_plan.id, Advance.period == "2027-01"))
    assert january.amount_cents == 1_500_00

    # the participant sees its expected true-up before it is booked
    wiesbaden_client = fresh(app, "einkauf@wiesbaden.example")
    own = wiesbaden_client.get(f"/cost-sharing/{net_plan.id}/shares.csv?actual=132000")
    (row,) = csv.DictReader(io.StringIO(own.text.lstrip("\ufeff")), delimiter=";")
    expected_final_wiesbaden = row["endbetrag"]

    # the providers true up in the open month (today is 2028-01-16): higher and lower than planned
    for client_, plan, actual in ((kdz, net_plan, "132.000,00"), (ekom, fw_plan, "30.000,00")):
        preview = client_.get(f"/cost-sharing/{plan.id}?actual={actual.replace('.', '')}")
        assert preview.status_code == 200 and "Spitzabrechnung buchen" in preview.text
        url = f"/cost-sharing/{plan.id}"
        booked = post_form(client_, url, f"{url}/true-up", {"t-actual_cost": actual})
        assert booked.status_code == 302, booked.text
        again = post_form(client_, url, f"{url}/true-up", {"t-actual_cost": actual})
        assert again.status_code in (403, 302)  # the form is gone; a replay is refused with a message
    db.session.expire_all()

    for plan, actual in ((net_plan, 132_000_00), (fw_plan, 30_000_00)):
        entries = {t.member_id: t for t in db.session.scalars(select(TrueUp).where(TrueUp.plan_id == plan.id))}
        assert set(entries) == {wiesbaden, ladadi, mainz}
        assert sum(t.final_cents for t in entries.values()) == actual  # the actual cost, to the cent
        for member_id, entry in entries.items():
            advances = _moved(f"advance:{plan.id}:{member_id}:%", member_id)
            assert -advances == entry.advances_cents
            assert entry.difference_cents == entry.final_cents - entry.advances_cents
            # advances plus true-up: the member carried exactly its final share (net)
            assert -(advances + _moved(f"trueup:{plan.id}:{member_id}", member_id)) == entry.final_cents
            if plan is net_plan:
                assert entry.difference_cents > 0  # higher actual cost: everybody pays more
            else:
                assert entry.difference_cents < 0  # lower: everybody gets money back
    net_wiesbaden = db.session.scalar(
        select(TrueUp).where(TrueUp.plan_id == net_plan.id, TrueUp.member_id == wiesbaden)
    )
    assert f"{Decimal(net_wiesbaden.final_cents) / 100:.2f}" == expected_final_wiesbaden

    # invoices: advance invoices and final invoices (380) for the network, credit notes (381) for the firewall
    documents = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
    by_provider: dict[int, list[int]] = defaultdict(list)
    for invoice in documents:
        by_provider[invoice.provider_id].append(invoice.sequence)
    for sequences in by_provider.values():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))  # gap-free, shared with advances
    for plan in (net_plan, fw_plan):
        for member_id in (wiesbaden, ladadi, mainz):
            advance_invoices = db.session.scalars(
                select(Invoice)
                .join(Advance, Advance.invoice_id == Invoice.id)
                .where(Advance.plan_id == plan.id, Advance.member_id == member_id)
            ).all()
            gross_advances = sum(i.gross_cents for i in advance_invoices)
            for invoice in (advance_invoices[0], advance_invoices[-1]):
                assert_valid_xrechnung(render(invoice))
            entry = db.session.scalar(select(TrueUp).where(TrueUp.plan_id == plan.id, TrueUp.member_id == member_id))
            final = db.session.get(Invoice, entry.invoice_id)
            xml = (
                fresh(app, "kasse@wiesbaden.example") if member_id == wiesbaden else (kdz if plan is net_plan else ekom)
            ).get(f"/cost-sharing/{plan.id}/final/{member_id}.xml")
            assert xml.status_code == 200
            assert_valid_xrechnung(xml.data)
            totals = ET.fromstring(xml.data).find(  # noqa: S314 - our own document
                "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}LegalMonetaryTotal"
            )
            true_up_gross = -_moved(f"trueup:{plan.id}:{member_id}", member_id) - _moved(
                f"vat:trueup:{plan.id}:{member_id}", member_id
            )
            if plan is net_plan:
                assert final.type_code is DocumentType.INVOICE and final.net_cents == entry.final_cents
                assert totals.findtext(f"{CBC}PrepaidAmount") == f"{Decimal(gross_advances) / 100:.2f}"
                payable = Decimal(totals.findtext(f"{CBC}PayableAmount"))
                assert payable == Decimal(final.gross_cents - gross_advances) / 100
                assert payable * 100 == true_up_gross  # the ledger moved what the final invoice asks for
            else:
                assert final.type_code is DocumentType.CREDIT_NOTE
                assert final.net_cents == -entry.difference_cents
                assert final.vat_cents == (final.net_cents * 19 + 50) // 100
                assert -final.gross_cents == true_up_gross  # the ledger refunded what the credit note says
                # all told the member paid the advance invoices less the credit note, with VAT
                paid = -(
                    _moved(f"advance:{fw_plan.id}:{member_id}:%", member_id)
                    + _moved(f"vat:advance:{fw_plan.id}:{member_id}:%", member_id)
                )
                assert paid - final.gross_cents == gross_advances - final.gross_cents
    verify_ledger()

    # the settlement's invoice download states the same prepaid and payable amounts
    final = db.session.get(Invoice, net_wiesbaden.invoice_id)
    finance = fresh(app, "kasse@wiesbaden.example")
    downloaded = finance.get(f"/invoices/{final.id}/xrechnung")
    assert downloaded.status_code == 200
    assert_valid_xrechnung(downloaded.data)
    assert f'<cbc:PrepaidAmount currencyID="EUR">{Decimal(net_wiesbaden.prepaid_cents) / 100:.2f}<' in (downloaded.text)

    shown = finance.get(f"/invoices/{final.id}")
    assert "Abzüglich bereits berechneter Abschläge" in shown.text

    # the participant's page shows its settled share; another participant's is not on it
    page = wiesbaden_client.get(f"/cost-sharing/{net_plan.id}")
    assert "Schlussrechnung" in page.text and "Stadt Mainz" not in page.text
    assert wiesbaden_client.get(f"/cost-sharing/{net_plan.id}/final/{mainz}.xml").status_code == 404
