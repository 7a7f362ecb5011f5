"""Payment advices (Zahlungsavis): per settlement and member, the documents behind the member's position."""

from __future__ import annotations


def advice_number(period: str, member_id: int) -> str:
    """The number printed on a member's payment advice of the settlement of `period` (``ZA-2026-10-3``);
    the SEPA remittance information and DATEV's Belegfeld 1 name the advice by it."""
    return f"ZA-{period}-{member_id}"
