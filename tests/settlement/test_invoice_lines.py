"""What an invoice line is made of (settlement.lines): checked against the posted amount to the cent, never
claiming a quantity the amount does not prove."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from marketplace.catalogue.models import Unit
from marketplace.ledger.operations import metered_cents, prorated_cents
from marketplace.settlement.lines import UNIT_CODES, Terms, basis_of, charged_month


def _month(price: int, quantity: int, starts_on: date, ends_on: date | None = None) -> Terms:
    return Terms(Unit.MONTH, price, quantity, starts_on, ends_on)


def test_a_whole_month_has_no_allowance():
    basis = basis_of(_month(8900, 4, date(2026, 8, 1)), "2026-11", 35600)
    assert (basis.quantity, basis.unit_code, basis.unit_price_cents, basis.allowance_cents) == (4, "MON", 8900, 0)
    assert (basis.period_start, basis.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert basis.net_cents == 35600


def test_a_pro_rata_month_is_exact_for_every_day_count_and_price():
    for price in (1, 7, 99, 8900, 145000, 123457):
        for quantity in (1, 3):
            for start_day in range(1, 32):
                starts_on = date(2026, 10, start_day)
                net = prorated_cents(price, quantity, 31 - start_day + 1, 31)
                if net == 0:
                    continue
                basis = basis_of(_month(price, quantity, starts_on), "2026-10", net)
                assert basis.net_cents == net, (price, quantity, start_day)
                assert basis.unit_code == "MON" and basis.allowance_cents >= 0


def test_a_booking_cancelled_after_billing_keeps_the_days_it_was_billed_for():
    # billed in advance for the whole of November, then cancelled to end on the 10th
    basis = basis_of(_month(8900, 1, date(2026, 8, 1), date(2026, 11, 10)), "2026-11", 8900)
    assert (basis.allowance_cents, basis.period_end) == (0, date(2026, 11, 30))
    # billed for 20 days (from the 11th), the booking's dates since changed
    net = prorated_cents(8900, 1, 20, 30)
    basis = basis_of(_month(8900, 1, date(2026, 11, 11), date(2026, 11, 15)), "2026-11", net)
    assert basis.allowance_reason == "anteiliger Monat: 20 von 30 Tagen" and basis.net_cents == net


def test_metered_usage_is_its_quantity_at_the_unit_price():
    for unit, usage, price in ((Unit.HOUR, "12.5", 9500), (Unit.GB_MONTH, "5120", 4), (Unit.PIECE, "0.333", 1999)):
        terms = Terms(unit, price, 1, date(2026, 1, 1), None, Decimal(usage))
        basis = basis_of(terms, "2026-11", metered_cents(price, Decimal(usage)))
        assert (basis.quantity, basis.unit_code, basis.allowance_cents) == (Decimal(usage), UNIT_CODES[unit], 0)
        assert basis.net_cents == metered_cents(price, Decimal(usage))


def test_an_amount_the_terms_do_not_explain_is_one_lump_sum():
    # usage that does not give the posted amount (e.g. a correction charged under its own key)
    terms = Terms(Unit.HOUR, 9500, 1, date(2026, 1, 1), None, Decimal("3"))
    basis = basis_of(terms, "2026-11", 12345)
    assert (basis.quantity, basis.unit_code, basis.unit_price_cents, basis.net_cents) == (1, "C62", 12345, 12345)
    # a monthly price that no number of days turns into the amount (the price changed)
    assert basis_of(_month(8900, 1, date(2026, 1, 1)), "2026-11", 9999).unit_code == "C62"


def test_the_charged_month_comes_from_the_charge_key():
    assert charged_month("charge:17:2026-09", "2026-11") == "2026-09"
    assert charged_month("correction:4", "2026-11") == "2026-11"


def test_every_unit_has_a_rec20_code():
    assert set(UNIT_CODES) == set(Unit)
    assert UNIT_CODES == {
        Unit.MONTH: "MON",
        Unit.HOUR: "HUR",
        Unit.PIECE: "H87",
        Unit.GB_MONTH: "E34",
        Unit.USER_MONTH: "IE",
    }
