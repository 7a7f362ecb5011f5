"""Allocation of a cost in cents among participants: pure functions, exact arithmetic, no database.

Every split uses the largest-remainder method (Hare-Niemeyer): each participant first gets the floor of
its exact share, then the cents still missing go one each to the largest fractional remainders (ties to
the earlier participant). So the shares add up exactly to the total, and no share is a cent or more away
from its exact value.

A participant's weight comes from the plan's key (equal, inhabitants, Königsteiner Schlüssel, custom);
members who join or leave during the year count with weight × days of participation, so the whole cost
is always carried by whoever took part, pro rata by day.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

Number = int | Decimal | Fraction


def largest_remainder(total_cents: int, weights: Sequence[Number]) -> list[int]:
    """Split `total_cents` in proportion to `weights` so the parts sum exactly to the total.

    Weights must be non-negative with a positive sum (ValueError otherwise). A negative total is split
    like its absolute value and negated. A zero weight always gets 0.
    """
    exact_weights = [Fraction(w) for w in weights]
    if not exact_weights:
        raise ValueError("no participants to allocate to")
    if any(w < 0 for w in exact_weights):
        raise ValueError("weights must not be negative")
    weight_sum = sum(exact_weights)
    if weight_sum <= 0:
        raise ValueError("the weights must have a positive sum")
    if total_cents < 0:
        return [-part for part in largest_remainder(-total_cents, exact_weights)]
    exact = [total_cents * w / weight_sum for w in exact_weights]
    parts = [int(share) for share in exact]  # floor: shares are non-negative
    missing = total_cents - sum(parts)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for index in by_remainder[:missing]:
        parts[index] += 1
    return parts


def exact_shares(total_cents: int, weights: Sequence[Number]) -> list[Fraction]:
    """The exact (unrounded) shares, for checking and for display."""
    exact_weights = [Fraction(w) for w in weights]
    weight_sum = sum(exact_weights)
    return [total_cents * w / weight_sum for w in exact_weights]


def year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def overlap_days(starts_on: date, ends_on: date | None, first: date, last: date) -> int:
    """Days of [starts_on, ends_on] inside [first, last], both ends counted; 0 if they do not meet."""
    start = max(starts_on, first)
    end = min(ends_on, last) if ends_on is not None else last
    return max(0, (end - start).days + 1)


@dataclass(frozen=True)
class Stake:
    """One participant as the allocation sees it: its key weight and its dates of participation."""

    weight: Number
    joins_on: date
    leaves_on: date | None = None


def year_days(stake: Stake, year: int) -> int:
    return overlap_days(stake.joins_on, stake.leaves_on, *year_bounds(year))


def annual_amounts(total_cents: int, stakes: Sequence[Stake], year: int) -> list[int]:
    """Each participant's part of a year's cost: weight × days in the year, largest remainder.

    Participants without a day in the year (or with weight 0) get 0. ValueError if nobody carries weight.
    """
    return largest_remainder(total_cents, [Fraction(s.weight) * year_days(s, year) for s in stakes])


def month_fractions(stake: Stake, year: int) -> list[Fraction]:
    """For each month of the year, the part of that month the participant took part (0 … 1, by day)."""
    fractions = []
    for month in range(1, 13):
        days_in_month = calendar.monthrange(year, month)[1]
        first, last = date(year, month, 1), date(year, month, days_in_month)
        fractions.append(Fraction(overlap_days(stake.joins_on, stake.leaves_on, first, last), days_in_month))
    return fractions


def advance_schedule(annual_cents: int, stake: Stake, year: int) -> list[int]:
    """The twelve monthly advances (Abschläge) of a participant whose annual part is `annual_cents`.

    A full month carries a twelfth of the annual rate; a month the participant joined or left in carries
    the same pro rata by day. The months sum exactly to `annual_cents` (all zero without a day in the year).
    """
    fractions = month_fractions(stake, year)
    if sum(fractions) == 0:
        return [0] * 12
    return largest_remainder(annual_cents, fractions)
