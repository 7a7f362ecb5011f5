"""Properties of the netting over random positions: conservation, at most n − 1 payments, exact cents,
nobody both pays and receives."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.settlement.netting import UnbalancedPositions, net_positions


@st.composite
def balanced_positions(draw: st.DrawFn) -> dict[int, int]:
    """Random member positions in cents that sum to zero (some members with zero)."""
    members = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=40, unique=True))
    amounts = draw(
        st.lists(
            st.integers(-(10**11), 10**11) | st.sampled_from([0, 1, -1]),
            min_size=len(members) - 1,
            max_size=len(members) - 1,
        )
    )
    amounts.append(-sum(amounts))
    return dict(zip(members, amounts, strict=True))


@settings(max_examples=300, deadline=None)
@given(balanced_positions())
def test_netting_clears_every_position_exactly_with_at_most_n_minus_1_payments(positions):
    payments = net_positions(positions)
    non_zero = [m for m, amount in positions.items() if amount != 0]
    assert len(payments) <= max(len(non_zero) - 1, 0)
    # conservation: what each member pays and receives is exactly its position, in whole cents
    flows: dict[int, int] = defaultdict(int)
    for payment in payments:
        assert isinstance(payment.amount_cents, int) and payment.amount_cents > 0
        assert payment.debtor_id != payment.creditor_id
        flows[payment.debtor_id] -= payment.amount_cents
        flows[payment.creditor_id] += payment.amount_cents
    assert {m: a for m, a in flows.items() if a} == {m: a for m, a in positions.items() if a}
    # nobody both pays and receives
    assert not {p.debtor_id for p in payments} & {p.creditor_id for p in payments}
    # the same positions always give the same instructions
    assert net_positions(dict(reversed(list(positions.items())))) == payments


def test_unbalanced_positions_are_refused():
    with pytest.raises(UnbalancedPositions):
        net_positions({1: 100, 2: -99})


def test_a_small_example_reads_as_expected():
    payments = net_positions({1: -300, 2: -100, 3: 250, 4: 150})
    assert [(p.debtor_id, p.creditor_id, p.amount_cents) for p in payments] == [
        (1, 3, 250),
        (1, 4, 50),
        (2, 4, 100),
    ]
