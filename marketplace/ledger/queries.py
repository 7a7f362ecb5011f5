"""Reads on the ledger: balances (cached, never summed on the fly), the journal, verification."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import DateTime, Select, exists, func, select, text

from marketplace.extensions import db
from marketplace.ledger.chain import canonical_content_fast, canonical_time, chain_hash
from marketplace.ledger.models import GENESIS_HASH, Account, LedgerHead, Posting, Transfer
from marketplace.members.models import Member


@dataclass(frozen=True)
class MemberBalance:
    member_id: int
    member_name: str
    balance_cents: int


def member_balances(member_id: int | None = None) -> list[MemberBalance]:
    """Each member's balance: the sum of its accounts' cached balances (one row per member)."""
    statement = (
        select(Member.id, Member.name, func.coalesce(func.sum(Account.balance_cents), 0))
        .join(Account, Account.member_id == Member.id)
        .group_by(Member.id, Member.name)
        .order_by(Member.name)
    )
    if member_id is not None:
        statement = statement.where(Member.id == member_id)
    return [MemberBalance(mid, name, int(total)) for mid, name, total in db.session.execute(statement)]


def journal_statement(member_id: int | None = None, period: str | None = None) -> Select:
    """Postings with their transfers, newest first; filtered to one member's accounts and/or a month."""
    statement = (
        select(Posting, Transfer, Account, Member)
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .join(Account, Account.id == Posting.account_id)
        .join(Member, Member.id == Account.member_id)
        .order_by(Transfer.id.desc(), Posting.id)
    )
    if member_id is not None:
        statement = statement.where(Account.member_id == member_id)
    if period is not None:
        statement = statement.where(Transfer.period == period)
    return statement


def reversals_of(transfer_ids: list[int]) -> dict[int, int]:
    """original transfer id -> id of the transfer that reversed it, for those of `transfer_ids` reversed."""
    if not transfer_ids:
        return {}
    rows = db.session.execute(
        select(Transfer.reverses_id, Transfer.id).where(Transfer.reverses_id.in_(transfer_ids))
    ).all()
    return {original: reversal for original, reversal in rows}


@dataclass
class VerifyReport:
    transfers: int = 0
    postings: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_transfer_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, transfer_id: int | None = None) -> None:
        self.problems.append(message)
        if transfer_id is not None and self.first_bad_transfer_id is None:
            self.first_bad_transfer_id = transfer_id


_TRANSFERS_BATCH = text(
    "SELECT id, idempotency_key, kind, period, description, amount_cents, booking_id, reverses_id, created_at, "
    "created_by_id, prev_hash, hash FROM transfers WHERE id > :last ORDER BY id LIMIT :size"
).columns(created_at=DateTime(timezone=True))
_POSTINGS_BATCH = text(
    "SELECT transfer_id, account_id, amount_cents FROM postings WHERE transfer_id BETWEEN :low AND :high ORDER BY id"
)


def verify_ledger(batch_size: int = 20_000) -> VerifyReport:
    """Recompute the hash chain, every transfer's zero sum and every cached balance.

    Reads plain rows in batches (no ORM objects, no enum conversion): 1,000,000 postings must take well
    under a minute.
    """
    report = VerifyReport()
    fail = report.fail
    balances: dict[int, int] = defaultdict(int)
    expected_id = 1
    prev_hash = GENESIS_HASH
    last_seen = 0
    last_moment, last_moment_text = None, ""
    while True:
        transfers = db.session.execute(_TRANSFERS_BATCH, {"last": last_seen, "size": batch_size}).all()
        if not transfers:
            break
        low, high = transfers[0][0], transfers[-1][0]
        postings_by_transfer: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for transfer_id, account_id, amount in db.session.execute(_POSTINGS_BATCH, {"low": low, "high": high}):
            postings_by_transfer[transfer_id].append((account_id, amount))
        for (
            tid,
            key,
            kind,
            period,
            description,
            amount_cents,
            booking_id,
            reverses_id,
            created_at,
            created_by,
            prev,
            digest,
        ) in transfers:
            if tid != expected_id:
                fail(f"Buchung {expected_id} fehlt (Lücke vor {tid})", expected_id)
            postings = postings_by_transfer.get(tid, ())
            total = positive = 0
            for account_id, amount in postings:
                balances[account_id] += amount
                total += amount
                if amount > 0:
                    positive += amount
            if total != 0:
                fail(f"Buchung {tid}: Posten ergeben nicht null", tid)
            if positive != amount_cents:
                fail(f"Buchung {tid}: Betrag passt nicht zu den Posten", tid)
            if prev != prev_hash:
                fail(f"Buchung {tid}: Verkettung unterbrochen (prev_hash)", tid)
            if created_at != last_moment:  # a billing run writes thousands of transfers with one timestamp
                last_moment, last_moment_text = created_at, canonical_time(created_at)
            content = canonical_content_fast(
                tid,
                key,
                kind,
                period,
                description,
                amount_cents,
                booking_id,
                reverses_id,
                last_moment_text,
                created_by,
                postings,
            )
            if chain_hash(prev, content) != digest:
                fail(f"Buchung {tid}: Prüfsumme stimmt nicht (Inhalt verändert)", tid)
            report.postings += len(postings)
            report.transfers += 1
            prev_hash = digest
            expected_id = tid + 1
        last_seen = high
    orphan_postings = db.session.scalar(
        # NOT EXISTS is an anti-join; NOT IN over a million ids can degrade to a nested scan
        select(func.count()).select_from(Posting).where(~exists().where(Transfer.id == Posting.transfer_id))
    )
    if orphan_postings:
        report.fail(f"{orphan_postings} Posten ohne Buchung")
    head = db.session.get(LedgerHead, 1)
    if head is not None and (head.last_transfer_id != expected_id - 1 or head.last_hash != prev_hash):
        report.fail("Das Kettenende (ledger_head) passt nicht zur letzten Buchung", expected_id)
    for account_id, cached in db.session.execute(select(Account.id, Account.balance_cents).order_by(Account.id)):
        if balances.get(account_id, 0) != cached:
            report.fail(
                f"Konto {account_id}: gespeicherter Saldo {cached} ≠ Summe der Posten {balances.get(account_id, 0)}"
            )
    total = db.session.scalar(select(func.coalesce(func.sum(Account.balance_cents), 0)))
    if total != 0:
        report.fail(f"Die Summe aller Salden ist {total}, nicht 0")
    return report
