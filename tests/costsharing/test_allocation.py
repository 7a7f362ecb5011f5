"""Allocation properties: shares add up exactly, largest remainder is fair, joining and leaving conserve."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.costsharing.allocation import (
    Stake,
    advance_schedule,
    annual_amounts,
    exact_shares,
    largest_remainder,
    month_fractions,
    year_days,
)

totals = st.integers(min_value=-(10**12), max_value=10**12)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**7),
    st.decimals(min_value=0, max_value=100, places=5, allow_nan=False, allow_infinity=False),
)
weight_lists = st.lists(weight, min_size=1, max_size=40).filter(lambda ws: sum(Fraction(w) for w in ws) > 0)


@given(totals, weight_lists)
def test_shares_sum_exactly_to_the_total(total, weights):
    assert sum(largest_remainder(total, weights)) == total


@given(totals, weight_lists)
def test_no_share_moves_a_cent_or_more_from_its_exact_value(total, weights):
    parts = largest_remainder(total, weights)
    for part, exact in zip(parts, exact_shares(total, weights), strict=True):
        assert abs(part - exact) < 1
    for part, w in zip(parts, weights, strict=True):
        if w == 0:
            assert part == 0


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=50))
def test_equal_shares_differ_by_at_most_one_cent(total, count):
    parts = largest_remainder(total, [1] * count)
    assert max(parts) - min(parts) <= 1
    assert sum(parts) == total


def test_known_split_and_tie_break():
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder(1000, [Decimal("7.44344"), Decimal("2.93874")]) == [717, 283]
    assert largest_remainder(-100, [1, 1, 1]) == [-34, -33, -33]
    with pytest.raises(ValueError):
        largest_remainder(100, [0, 0])
    with pytest.raises(ValueError):
        largest_remainder(100, [1, -1])


YEAR = 2026
day_of_year = st.integers(min_value=0, max_value=364).map(lambda n: date(YEAR, 1, 1) + timedelta(days=n))


@st.composite
def stakes(draw):
    joins = draw(st.one_of(st.just(date(YEAR - 1, 6, 1)), day_of_year))
    leaves = draw(st.one_of(st.none(), day_of_year.filter(lambda d: d >= joins)))
    return Stake(weight=draw(st.integers(min_value=1, max_value=10**6)), joins_on=joins, leaves_on=leaves)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**10), st.lists(stakes(), min_size=1, max_size=12))
def test_joining_and_leaving_conserve_the_total(total, participants):
    amounts = annual_amounts(total, participants, YEAR)
    assert sum(amounts) == total
    weights = [Fraction(s.weight) * year_days(s, YEAR) for s in participants]
    for amount, exact in zip(amounts, exact_shares(total, weights), strict=True):
        assert abs(amount - exact) < 1
    # the advances of each participant add up exactly to its annual part: the year's advances to the total
    schedules = [advance_schedule(a, s, YEAR) for a, s in zip(amounts, participants, strict=True)]
    assert sum(sum(schedule) for schedule in schedules) == total
    for schedule, amount, stake in zip(schedules, amounts, participants, strict=True):
        assert sum(schedule) == amount
        # no advance in a month without a day of participation
        for cents, part in zip(schedule, month_fractions(stake, YEAR), strict=True):
            if part == 0:
                assert cents == 0


@given(st.integers(min_value=0, max_value=10**9), st.lists(stakes(), min_size=2, max_size=8), stakes())
def test_a_joiner_takes_only_from_the_others_and_the_total_stays(total, participants, joiner):
    before = annual_amounts(total, participants, YEAR)
    after = annual_amounts(total, [*participants, joiner], YEAR)
    assert sum(after) == sum(before) == total
    # nobody pays more because somebody joined (up to the one cent of rounding)
    for old, new in zip(before, after[:-1], strict=True):
        assert new <= old + 1


def test_pro_rata_by_day_for_a_joiner_and_a_leaver():
    full = Stake(1, date(2025, 1, 1))
    april = Stake(1, date(YEAR, 4, 1))
    september = Stake(1, date(2025, 1, 1), date(YEAR, 9, 30))
    assert [year_days(s, YEAR) for s in (full, april, september)] == [365, 275, 273]
    amounts = annual_amounts(91300, [full, april, september], YEAR)
    assert amounts == [36500, 27500, 27300]
    assert advance_schedule(36500, full, YEAR) == [3042] * 8 + [3041] * 4
    april_advances = advance_schedule(27500, april, YEAR)
    assert april_advances[:3] == [0, 0, 0] and sum(april_advances) == 27500
    assert set(april_advances[3:]) <= {3055, 3056}
    september_advances = advance_schedule(27300, september, YEAR)
    assert september_advances[9:] == [0, 0, 0] and sum(september_advances) == 27300
    # joining on the 16th of a 30-day month: that month carries 15/30 of a full month
    mid = Stake(1, date(YEAR, 4, 16))
    schedule = advance_schedule(12000, mid, YEAR)
    assert abs(schedule[3] * 2 - schedule[4]) <= 2


@given(st.integers(min_value=0, max_value=10**10), stakes())
def test_each_advance_is_within_a_cent_of_its_pro_rata_part(annual, stake):
    if sum(month_fractions(stake, YEAR)) == 0:
        return
    schedule = advance_schedule(annual, stake, YEAR)
    fractions = month_fractions(stake, YEAR)
    for cents, exact in zip(schedule, exact_shares(annual, fractions), strict=True):
        assert abs(cents - exact) < 1
    full_months = [cents for cents, part in zip(schedule, fractions, strict=True) if part == 1]
    if full_months:  # every full month carries the same twelfth of the annual rate, give or take a cent
        assert max(full_months) - min(full_months) <= 1
