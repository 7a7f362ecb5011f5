"""Reads on the ledger: balances (cached, never summed on the fly), the journal, verification."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select

from marketplace.extensions import db
from marketplace.ledger.chain import canonical_content, chain_hash
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


def transfer_with_postings(transfer_id: int) -> Transfer | None:
    return db.session.get(Transfer, transfer_id)


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


def _check_transfer(report: VerifyReport, row, postings: list[tuple[int, int]], prev_hash: str) -> None:  # type: ignore[no-untyped-def]
    if sum(amount for _a, amount in postings) != 0:
        report.fail(f"Buchung {row.id}: Posten ergeben nicht null", row.id)
    if sum(amount for _a, amount in postings if amount > 0) != row.amount_cents:
        report.fail(f"Buchung {row.id}: Betrag passt nicht zu den Posten", row.id)
    if row.prev_hash != prev_hash:
        report.fail(f"Buchung {row.id}: Verkettung unterbrochen (prev_hash)", row.id)
    content = canonical_content(
        transfer_id=row.id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        period=row.period,
        description=row.description,
        amount_cents=row.amount_cents,
        booking_id=row.booking_id,
        reverses_id=row.reverses_id,
        created_at=row.created_at,
        created_by_id=row.created_by_id,
        postings=postings,
    )
    if chain_hash(row.prev_hash, content) != row.hash:
        report.fail(f"Buchung {row.id}: Prüfsumme stimmt nicht (Inhalt verändert)", row.id)


def verify_ledger(batch_size: int = 20_000) -> VerifyReport:
    """Recompute the hash chain, every transfer's zero sum and every cached balance."""
    report = VerifyReport()
    balances: dict[int, int] = defaultdict(int)
    expected_id = 1
    prev_hash = GENESIS_HASH
    transfer_cols = (
        Transfer.id,
        Transfer.idempotency_key,
        Transfer.kind,
        Transfer.period,
        Transfer.description,
        Transfer.amount_cents,
        Transfer.booking_id,
        Transfer.reverses_id,
        Transfer.created_at,
        Transfer.created_by_id,
        Transfer.prev_hash,
        Transfer.hash,
    )
    last_seen = 0
    while True:
        transfers = db.session.execute(
            select(*transfer_cols).where(Transfer.id > last_seen).order_by(Transfer.id).limit(batch_size)
        ).all()
        if not transfers:
            break
        low, high = transfers[0].id, transfers[-1].id
        postings_by_transfer: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for transfer_id, account_id, amount in db.session.execute(
            select(Posting.transfer_id, Posting.account_id, Posting.amount_cents)
            .where(Posting.transfer_id.between(low, high))
            .order_by(Posting.id)
        ):
            postings_by_transfer[transfer_id].append((account_id, amount))
        for row in transfers:
            if row.id != expected_id:
                report.fail(f"Buchung {expected_id} fehlt (Lücke vor {row.id})", expected_id)
            postings = postings_by_transfer.get(row.id, [])
            _check_transfer(report, row, postings, prev_hash)
            for account_id, amount in postings:
                balances[account_id] += amount
            report.postings += len(postings)
            report.transfers += 1
            prev_hash = row.hash
            expected_id = row.id + 1
        last_seen = high
        db.session.expire_all()
    orphan_postings = db.session.scalar(
        select(func.count()).select_from(Posting).where(~Posting.transfer_id.in_(select(Transfer.id)))
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
