"""The fast canonical encoder used for hashing must produce exactly the bytes of the readable reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.ledger.chain import canonical_content, canonical_content_fast, canonical_time

# naive on purpose: SQLite hands back naive datetimes
NAIVE_MIN, NAIVE_MAX = datetime(2000, 1, 1), datetime(2100, 1, 1)  # noqa: DTZ001
ids = st.integers(1, 2**53)
optional_ids = st.none() | ids
texts = st.text(max_size=60)
moments = st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX).map(lambda d: d.replace(tzinfo=UTC)) | st.datetimes(
    min_value=NAIVE_MIN, max_value=NAIVE_MAX
)


@settings(max_examples=300)
@given(
    transfer_id=ids,
    key=texts,
    kind=st.sampled_from(["charge", "vat", "reversal", "payment", "payout"]),
    period=st.from_regex(r"\A\d{4}-(0[1-9]|1[0-2])\Z"),
    description=texts,
    amount=st.integers(1, 10**12),
    booking=optional_ids,
    reverses=optional_ids,
    moment=moments,
    created_by=optional_ids,
    postings=st.lists(st.tuples(ids, st.integers(-(10**12), 10**12)), min_size=0, max_size=5),
)
def test_fast_encoder_equals_the_reference(
    transfer_id, key, kind, period, description, amount, booking, reverses, moment, created_by, postings
):
    reference = canonical_content(
        transfer_id=transfer_id,
        idempotency_key=key,
        kind=kind,
        period=period,
        description=description,
        amount_cents=amount,
        booking_id=booking,
        reverses_id=reverses,
        created_at=moment,
        created_by_id=created_by,
        postings=postings,
    )
    fast = canonical_content_fast(
        transfer_id,
        key,
        kind,
        period,
        description,
        amount,
        booking,
        reverses,
        canonical_time(moment),
        created_by,
        postings,
    )
    assert fast == reference


def test_time_is_canonical_in_utc():
    berlin = timezone(timedelta(hours=1))
    assert canonical_time(datetime(2026, 11, 16, 13, 0, tzinfo=berlin)) == "2026-11-16T12:00:00.000000"
    assert canonical_time(NAIVE_MIN) == "2000-01-01T00:00:00.000000"
