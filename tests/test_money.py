"""Money rules finance staff recompute by hand: parsing, rounding half up, German formatting."""

from decimal import Decimal

import pytest

from marketplace.core.money import AmountError, format_eur, parse_amount, round_half_up, to_cents
from marketplace.ledger.operations import metered_cents, prorated_cents


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", Decimal("1234.5")),
        ("1234,50", Decimal("1234.50")),
        ("1.234,57", Decimal("1234.57")),
        ("0,01", Decimal("0.01")),
        (" 89,00 € ", Decimal("89.00")),
        ("1,5", Decimal("1.5")),
        ("1.234", Decimal("1234")),  # dots between groups of three digits separate thousands
        ("12.345", Decimal("12345")),
        ("1 234,50", Decimal("1234.50")),
        ("0.5", Decimal("0.5")),
    ],
)
def test_parse_amount_accepts_german_and_technical_notation(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1,234", "1.2.3", "1e3", "NaN", "12,345", "--1", "١٢", "1_000", "-0", "+5", "12,", "1.234.5"],
)
def test_parse_amount_rejects_everything_else(text):
    with pytest.raises(AmountError):
        parse_amount(text)


def test_rounding_is_half_up_to_the_cent():
    assert round_half_up(Decimal("0.005")) == Decimal("0.01")
    assert round_half_up(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67
    assert to_cents(Decimal("65.2666")) == 6527


def test_format_eur_german():
    assert format_eur(123457) == "1.234,57\xa0€"
    assert format_eur(-406680) == "-4.066,80\xa0€"


def test_prorated_rule_of_design():
    # round_half_up(unit_price * quantity * billable_days / days_in_month, 2)
    assert prorated_cents(8900, 2, 11, 30) == 6527  # 65.2666… → 65,27 €
    assert prorated_cents(8900, 4, 31, 31) == 35600
    assert prorated_cents(1, 1, 1, 2) == 1  # 0.005 € rounds up
    assert prorated_cents(145000, 1, 15, 31) == 70161  # 701.6129… → 701,61 €


def test_metered_rule_of_design():
    assert metered_cents(450, Decimal("350")) == 157500
    assert metered_cents(4, Decimal("5120")) == 20480
    assert metered_cents(9500, Decimal("12.5")) == 118750
    assert metered_cents(333, Decimal("0.005")) == 2  # 1.665 ct → 2 ct
