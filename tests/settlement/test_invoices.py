"""Invoices on month close: one per provider, buyer, month and tax category; gap-free numbers; VAT
computed on each invoice's net total and posted, so that ledger and invoices agree to the cent."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Posting, Transfer, TransferKind
from marketplace.ledger.operations import reverse_transfer
from marketplace.ledger.queries import verify_ledger
from marketplace.settlement.models import DocumentType, Invoice
from tests.settlement.conftest import user


def _invoices(period: str | None = None) -> list[Invoice]:
    statement = select(Invoice).order_by(Invoice.id)
    if period:
        statement = statement.where(Invoice.period == period)
    return list(db.session.scalars(statement))


def _clearing(member_id: int) -> int:
    return db.session.scalar(
        select(Account.id).where(Account.member_id == member_id, Account.kind == AccountKind.CLEARING)
    )


def test_closing_a_month_issues_one_invoice_per_provider_buyer_and_category(app, demo_september_open, close_month):
    # the demo closed 2026-08; close 2026-09 as well
    close_month("2026-09")
    for period in ("2026-08", "2026-09"):
        invoices = _invoices(period)
        keys = [(i.provider_id, i.buyer_id, i.period, i.vat_category) for i in invoices]
        assert len(keys) == len(set(keys)) and invoices
        charges = db.session.scalars(
            select(Transfer).where(Transfer.period == period, Transfer.kind == TransferKind.CHARGE)
        ).all()
        # every charge of the month is on exactly one invoice line, with its exact amount
        on_lines = {line.transfer_id: line.net_cents for i in invoices for line in i.lines}
        assert on_lines == {c.id: c.amount_cents for c in charges}
        for invoice in invoices:
            assert invoice.type_code is DocumentType.INVOICE
            assert invoice.net_cents == sum(line.net_cents for line in invoice.lines)


def test_numbers_are_gap_free_per_provider(app, demo_september_open, close_month):
    close_month("2026-09")
    close_month("2026-10")
    by_provider: dict[int, list[int]] = defaultdict(list)
    for invoice in _invoices():
        by_provider[invoice.provider_id].append(invoice.sequence)
        assert invoice.number == f"LB-{invoice.provider_id}-{invoice.sequence:06d}"
    assert len(by_provider) == 2
    for sequences in by_provider.values():
        assert sequences == list(range(1, len(sequences) + 1))


def test_vat_on_the_net_total_is_posted_so_ledger_equals_invoices(app, demo_september_open, close_month):
    close_month("2026-09")
    ekom = user("anbieter@ekom21.example").member
    wiesbaden = user("kasse@wiesbaden.example").member
    [storage] = [i for i in _invoices("2026-09") if i.provider_id == ekom.id and i.vat_category.value == "S"]
    # 5120 GB × 0.04 € = 204.80 €; 19 % of it is 38.912 → 38.91 €
    assert (storage.buyer_id, storage.net_cents, storage.vat_cents) == (wiesbaden.id, 20480, 3891)
    assert storage.gross_cents == 24371
    vat = db.session.get(Transfer, storage.vat_transfer_id)
    assert vat.kind is TransferKind.VAT and vat.period == "2026-09" and vat.amount_cents == 3891
    assert {(p.account_id, p.amount_cents) for p in vat.postings} == {
        (_clearing(wiesbaden.id), -3891),
        (_clearing(ekom.id), 3891),
    }
    # all VAT in the ledger is exactly the VAT of the documents
    posted = db.session.scalar(select(func.sum(Transfer.amount_cents)).where(Transfer.kind == TransferKind.VAT))
    assert posted == sum(i.vat_cents for i in _invoices())
    # not-taxable (O) invoices carry no VAT and post none
    assert all(i.vat_cents == 0 and i.vat_transfer_id is None for i in _invoices() if i.vat_category.value == "O")


def test_rounding_is_on_the_invoice_total_not_per_line():
    from decimal import Decimal

    from marketplace.settlement.invoicing import vat_cents

    # two lines of 0.08 €: per line 0.0152 → 0.02 twice (0.04); on the total 0.16 € → 0.0304 → 0.03
    assert vat_cents(16, Decimal("19.00")) == 3
    # 10.50 € → 1.995 → 2.00 (half up)
    assert vat_cents(1050, Decimal("19")) == 200
    assert vat_cents(1049, Decimal("19")) == 199


def test_closing_again_is_refused_and_creates_no_documents(app, demo):
    import pytest

    from marketplace.core.errors import Conflict
    from marketplace.monthend.close import close_period

    before = len(_invoices())
    with pytest.raises(Conflict):
        close_period(user("betrieb@kopit.example"), "2026-08")
    db.session.rollback()
    assert len(_invoices()) == before


def test_a_reversal_after_closing_yields_a_credit_note_at_the_next_close(
    app, demo_september_open, close_month, set_today
):
    close_month("2026-09")
    ekom = user("anbieter@ekom21.example").member
    [storage] = [i for i in _invoices("2026-09") if i.provider_id == ekom.id and i.vat_category.value == "S"]
    charge_id = storage.lines[0].transfer_id
    reversal = reverse_transfer(user("betrieb@kopit.example"), charge_id, "Speicher doppelt berechnet")
    db.session.commit()
    assert reversal.period == "2026-11"  # September is closed: the correction goes into the open month
    set_today("2026-12-02")
    close_month("2026-10")  # months close in order
    close_month("2026-11", reason="Stunden vom November noch in Prüfung")
    [note] = [i for i in _invoices("2026-11") if i.type_code is DocumentType.CREDIT_NOTE]
    assert note.credited_invoice_id == storage.id
    assert (note.provider_id, note.buyer_id, note.net_cents, note.vat_cents) == (ekom.id, storage.buyer_id, 20480, 3891)
    assert (note.service_start, note.service_end) == (storage.service_start, storage.service_end)
    assert note.lines[0].transfer_id == reversal.id
    # the credit note continues the provider's gap-free numbering
    sequences = sorted(i.sequence for i in _invoices() if i.provider_id == ekom.id)
    assert sequences == list(range(1, len(sequences) + 1))
    assert note.sequence == sequences[-1]
    # its VAT goes back from provider to buyer: the buyer's VAT for September nets to zero
    vat = db.session.get(Transfer, note.vat_transfer_id)
    assert vat.period == "2026-11"
    assert {(p.account_id, p.amount_cents) for p in vat.postings} == {
        (_clearing(storage.buyer_id), 3891),
        (_clearing(ekom.id), -3891),
    }
    total = db.session.scalar(select(func.sum(Posting.amount_cents)))
    assert total == 0
    assert verify_ledger().ok


def test_a_charge_reversed_within_its_open_month_is_not_invoiced(app, demo_september_open, close_month):
    from marketplace.monthend.billing import run_billing

    run_billing(user("betrieb@kopit.example"), "2026-09")
    db.session.commit()
    charge = db.session.scalars(
        select(Transfer).where(Transfer.period == "2026-09", Transfer.kind == TransferKind.CHARGE)
    ).first()
    reverse_transfer(user("betrieb@kopit.example"), charge.id, "Falsch gebucht")
    db.session.commit()
    close_month("2026-09", bill=False)
    assert charge.id not in {line.transfer_id for i in _invoices("2026-09") for line in i.lines}
    assert not [i for i in _invoices() if i.type_code is DocumentType.CREDIT_NOTE]
