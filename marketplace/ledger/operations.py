"""Every write to the ledger. Functions flush and never commit; the request or CLI command commits.

All transfers go through `post_transfers`, which locks the involved accounts in ascending id order
(one ``SELECT ... ORDER BY id FOR UPDATE``), then the chain head, then checks periods and idempotency
keys and writes transfers, postings and cached balances together. Call it at most once per database
transaction, unless `lock_whole_ledger()` came first: otherwise a second call would take account locks
while holding the chain head, and could deadlock with another writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select

from marketplace.bookings.models import BILLABLE_STATUSES, Booking
from marketplace.bookings.operations import mark_usage_credited
from marketplace.core import money
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import parse_period, period_of, today, utcnow
from marketplace.extensions import db
from marketplace.ledger.chain import canonical_content_fast, canonical_time, chain_hash
from marketplace.ledger.models import (
    GENESIS_HASH,
    Account,
    AccountKind,
    LedgerHead,
    Period,
    PeriodStatus,
    Posting,
    Transfer,
    TransferKind,
)
from marketplace.members.permissions import require_operator_finance

if TYPE_CHECKING:
    from marketplace.members.models import Member, User

_CHUNK = 900  # stays below SQLite's bound-parameter limit
#: Transfers per multi-row insert: large enough to amortise round trips, small enough to report progress.
WRITE_BATCH = 5_000


@dataclass(frozen=True)
class TransferSpec:
    """What a transfer should be; `post_transfers` turns specs into rows."""

    idempotency_key: str
    kind: TransferKind
    period: str
    description: str
    #: (account id, cents) pairs; they must sum to zero.
    postings: tuple[tuple[int, int], ...]
    booking_id: int | None = None
    reverses_id: int | None = None
    #: A correction (e.g. a reversal) whose month has been closed by the time the ledger is locked goes to
    #: the open current month instead of being refused.
    into_open_month: bool = False

    @property
    def amount_cents(self) -> int:
        return sum(amount for _account, amount in self.postings if amount > 0)

    def check(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 200:
            raise InvalidInput.field("idempotency_key", "Ungültiger Idempotenzschlüssel.")
        if len(self.postings) < 2:
            raise InvalidInput("Eine Buchung braucht mindestens zwei Posten.")
        if any(amount == 0 for _account, amount in self.postings):
            raise InvalidInput("Ein Buchungsposten darf nicht 0 sein.")
        if sum(amount for _account, amount in self.postings) != 0:
            raise InvalidInput("Die Posten von %(key)s ergeben nicht null.", key=self.idempotency_key)
        parse_period(self.period)


@dataclass(frozen=True)
class PostResult:
    created_ids: list[int]
    #: Specs whose key already existed with the same amount (replays that created nothing).
    replayed: int
    #: What the created transfers moved, in cents.
    created_amount_cents: int = 0

    @property
    def created(self) -> int:
        return len(self.created_ids)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_member_accounts(member: Member) -> list[Account]:
    """Open the clearing account of a new member; the operator also gets bank and in-transit."""
    kinds = [AccountKind.CLEARING]
    if member.is_operator:
        kinds += [AccountKind.BANK, AccountKind.IN_TRANSIT]
    accounts = [Account(member_id=member.id, kind=kind, balance_cents=0) for kind in kinds]
    db.session.add_all(accounts)
    db.session.flush()
    return accounts


def account_of(member_id: int, kind: AccountKind = AccountKind.CLEARING) -> Account:
    account = db.session.scalar(select(Account).where(Account.member_id == member_id, Account.kind == kind))
    if account is None:
        raise NotFound("Das Mitglied %(member)s hat kein Konto „%(kind)s“.", member=member_id, kind=kind)
    return account


def _lock_head() -> LedgerHead:
    head = db.session.scalar(locked(select(LedgerHead).where(LedgerHead.id == 1)))
    if head is None:  # the migration creates it; a database restored without it gets a new genesis
        head = LedgerHead(id=1, last_transfer_id=0, last_hash=GENESIS_HASH)
        db.session.add(head)
        db.session.flush()
    return head


def lock_whole_ledger() -> None:
    """Lock every account (ascending id) and then the chain head: the same order as `post_transfers`.

    Used by month-end work (closing, invoicing) that must see a ledger nobody else is writing to. A later
    `post_transfers` in the same transaction re-locks rows it already holds, so it cannot deadlock.
    """
    db.session.execute(locked(select(Account.id).order_by(Account.id), Account)).all()
    _lock_head()


def latest_closed_period() -> str | None:
    """The latest closed month (``YYYY-MM``), or None. Every month before it counts as closed too, whether
    or not it has a row: nothing is posted behind a closed month."""
    return db.session.scalar(select(func.max(Period.period)).where(Period.status == PeriodStatus.CLOSED))


def first_month() -> str | None:
    """The installation's first month: that of its earliest billable booking, or of its earliest posting if
    that is earlier (a cost-sharing advance); None before either exists. Months before it count as closed:
    nobody has to close them."""
    starts = db.session.scalar(select(func.min(Booking.starts_on)).where(Booking.status.in_(BILLABLE_STATUSES)))
    posted = db.session.scalar(select(func.min(Transfer.period)))
    candidates = [period_of(starts)] if starts is not None else []
    candidates += [posted] if posted is not None else []
    return min(candidates) if candidates else None


def counts_as_closed(period: str, latest_closed: str | None) -> bool:
    """Whether `period` is closed given the latest closed month: it is, or lies before it."""
    return latest_closed is not None and period <= latest_closed


def _check_periods(specs: list[TransferSpec]) -> list[TransferSpec]:
    """The specs with their months checked under the ledger lock: missing months are created as open; a
    closed month, or one before the latest closed month, is refused with Conflict, or, for a spec marked
    `into_open_month`, replaced by the current month.

    Called while the chain head is locked, so no close can commit in between; the rows are read afresh
    (a month loaded before the lock may have been closed while this transaction waited for it).
    """
    wanted = {spec.period for spec in specs}
    if any(spec.into_open_month for spec in specs):
        wanted.add(current_period())
    rows = {
        row.period: row
        for row in db.session.scalars(
            select(Period).where(Period.period.in_(wanted)).execution_options(populate_existing=True)
        )
    }
    latest = latest_closed_period()
    closed = {period for period, row in rows.items() if row.status is PeriodStatus.CLOSED}
    closed |= {period for period in wanted if counts_as_closed(period, latest)}
    resolved = [
        replace(spec, period=current_period()) if spec.into_open_month and spec.period in closed else spec
        for spec in specs
    ]
    for period in sorted({spec.period for spec in resolved}):
        if period in closed:
            if period in rows and rows[period].status is PeriodStatus.CLOSED:
                raise Conflict(
                    "Der Monat %(period)s ist abgeschlossen; es kann nichts mehr hineingebucht werden.", period=period
                )
            raise Conflict(
                "Der Monat %(period)s liegt vor dem abgeschlossenen Monat %(closed)s; es kann nichts mehr "
                "hineingebucht werden.",
                period=period,
                closed=latest,
            )
        if period not in rows:
            db.session.add(Period(period=period, status=PeriodStatus.OPEN))
    db.session.flush()
    return resolved


def _existing_amounts(keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(keys):
        rows = db.session.execute(
            select(Transfer.idempotency_key, Transfer.amount_cents).where(Transfer.idempotency_key.in_(chunk))
        )
        found.update({key: amount for key, amount in rows})
    return found


def post_transfers(
    specs: Sequence[TransferSpec], actor: User | None, progress: Callable[[int], None] | None = None
) -> PostResult:
    """Write balanced transfers, each once per idempotency key.

    Rows are written in batches of `WRITE_BATCH` transfers (one multi-row insert each for transfers and
    postings); `progress` is told how many specs each batch settled (replays count at once).

    Raises InvalidInput for an unbalanced spec, Conflict for a closed month or a key that exists with a
    different amount. Replays of existing keys with the same amount create nothing.
    """
    if not specs:
        return PostResult(created_ids=[], replayed=0)
    keys = [spec.idempotency_key for spec in specs]
    if len(set(keys)) != len(keys):
        raise InvalidInput("Derselbe Idempotenzschlüssel kommt in einem Auftrag mehrfach vor.")
    for spec in specs:
        spec.check()

    account_ids = sorted({account for spec in specs for account, _amount in spec.postings})
    accounts: dict[int, Account] = {}
    for chunk in _chunks(account_ids):
        rows = db.session.scalars(locked(select(Account).where(Account.id.in_(chunk)).order_by(Account.id), Account))
        accounts.update({account.id: account for account in rows})
    missing = set(account_ids) - set(accounts)
    if missing:
        raise NotFound("Unbekannte Konten: %(accounts)s", accounts=sorted(missing))
    head = _lock_head()

    existing = _existing_amounts(keys)
    fresh: list[TransferSpec] = []
    for spec in specs:
        if spec.idempotency_key in existing:
            if existing[spec.idempotency_key] != spec.amount_cents:
                raise Conflict(
                    "Den Vorgang %(key)s gibt es bereits mit einem anderen Betrag.", key=spec.idempotency_key
                )
        else:
            fresh.append(spec)
    if not fresh:
        return PostResult(created_ids=[], replayed=len(specs))
    fresh = _check_periods(fresh)

    now = utcnow()
    actor_id = actor.id if actor is not None else None
    created_at = canonical_time(now)
    deltas: dict[int, int] = defaultdict(int)
    first_id = head.last_transfer_id + 1
    last_id, last_hash = head.last_transfer_id, head.last_hash
    if progress is not None and len(specs) > len(fresh):
        progress(len(specs) - len(fresh))
    # Hash and write batch by batch, so that memory holds one batch of rows, not the whole run.
    for start in range(0, len(fresh), WRITE_BATCH):
        batch = fresh[start : start + WRITE_BATCH]
        transfer_rows: list[tuple] = []
        posting_rows: list[tuple[int, int, int]] = []
        for spec in batch:
            last_id += 1
            amount_cents = spec.amount_cents
            content = canonical_content_fast(
                last_id,
                spec.idempotency_key,
                spec.kind.value,
                spec.period,
                spec.description,
                amount_cents,
                spec.booking_id,
                spec.reverses_id,
                created_at,
                actor_id,
                spec.postings,
            )
            digest = chain_hash(last_hash, content)
            transfer_rows.append(
                (
                    last_id,
                    spec.idempotency_key,
                    spec.kind.value,
                    spec.period,
                    spec.description,
                    amount_cents,
                    spec.booking_id,
                    spec.reverses_id,
                    now,
                    actor_id,
                    last_hash,
                    digest,
                )
            )
            for account_id, amount in spec.postings:
                posting_rows.append((last_id, account_id, amount))
                deltas[account_id] += amount
            last_hash = digest
        _write_rows(transfer_rows, posting_rows)
        if progress is not None:
            progress(len(batch))
    for account_id, delta in deltas.items():
        accounts[account_id].balance_cents += delta
    head.last_transfer_id, head.last_hash = last_id, last_hash
    db.session.flush()
    return PostResult(
        created_ids=list(range(first_id, last_id + 1)),
        replayed=len(specs) - len(fresh),
        created_amount_cents=sum(spec.amount_cents for spec in fresh),
    )


_TRANSFER_COLUMNS = (
    "id",
    "idempotency_key",
    "kind",
    "period",
    "description",
    "amount_cents",
    "booking_id",
    "reverses_id",
    "created_at",
    "created_by_id",
    "prev_hash",
    "hash",
)
_POSTING_COLUMNS = ("transfer_id", "account_id", "amount_cents")


def _write_rows(transfer_rows: list[tuple], posting_rows: list[tuple[int, int, int]]) -> None:
    """Insert one batch in the session's transaction: PostgreSQL ``COPY`` (the fastest way in, and subject to
    the same constraints), elsewhere a Core executemany."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY transfers ({', '.join(_TRANSFER_COLUMNS)}) FROM STDIN") as copy:
                for row in transfer_rows:
                    copy.write_row(row)
            with cursor.copy(f"COPY postings ({', '.join(_POSTING_COLUMNS)}) FROM STDIN") as copy:
                for row in posting_rows:
                    copy.write_row(row)
        return
    connection.execute(
        insert(Transfer.__table__), [dict(zip(_TRANSFER_COLUMNS, row, strict=True)) for row in transfer_rows]
    )
    connection.execute(
        insert(Posting.__table__), [dict(zip(_POSTING_COLUMNS, row, strict=True)) for row in posting_rows]
    )


def current_period() -> str:
    return period_of(today())


def require_billable_period(period: str) -> date:
    """The first day of `period`; InvalidInput if malformed, Conflict if in the future or closed."""
    try:
        first = parse_period(period)
    except ValueError as exc:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-11.") from exc
    if first > today().replace(day=1):
        raise Conflict(
            "Der Monat %(period)s liegt in der Zukunft und kann noch nicht abgerechnet werden.", period=period
        )
    row = db.session.get(Period, period)
    if row is not None and row.status is PeriodStatus.CLOSED:
        raise Conflict("Der Monat %(period)s ist abgeschlossen.", period=period)
    latest = latest_closed_period()
    if counts_as_closed(period, latest):
        raise Conflict(
            "Der Monat %(period)s liegt vor dem abgeschlossenen Monat %(closed)s und gilt als abgeschlossen.",
            period=period,
            closed=latest,
        )
    return first


def lock_period(period: str) -> Period:
    """The month's row, locked (created as open if it has none). Month-end calls it after
    `lock_whole_ledger()`, so that nobody posts into the month while it decides."""
    row = db.session.scalar(locked(select(Period).where(Period.period == period), Period))
    if row is None:
        row = Period(period=period, status=PeriodStatus.OPEN)
        db.session.add(row)
        db.session.flush()
    return row


def mark_period_closed(period: str, actor: User) -> Period:
    """Mark the month closed: from now on `post_transfers` refuses it (corrections go to the open month).

    Only the state: what a close must do first (invoices, their VAT) is `monthend.close.close_period`'s.
    Raises Conflict if the month is already closed.
    """
    row = lock_period(period)
    if row.status is PeriodStatus.CLOSED:
        raise Conflict("Der Monat %(period)s ist bereits abgeschlossen.", period=period)
    row.status = PeriodStatus.CLOSED
    row.closed_at = utcnow()
    row.closed_by_id = actor.id
    db.session.flush()
    return row


def reverse_transfer(actor: User, transfer_id: int, reason: str) -> Transfer:
    """Cancel a transfer by an opposite one in an open month; each transfer is reversed at most once.

    Raises PermissionDenied (not operator finance), NotFound, InvalidInput (no reason) or Conflict (already
    reversed, not a charge, or no open month to post into).
    """
    require_operator_finance(actor, "Buchungen stornieren")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.field("reason", "Bitte einen Grund für die Stornierung angeben.")
    if len(reason) > 300:
        raise InvalidInput.field("reason", "Der Grund darf höchstens 300 Zeichen lang sein.")
    original = db.session.get(Transfer, transfer_id)
    if original is None:
        raise NotFound("Diese Buchung gibt es nicht.")
    if original.kind is TransferKind.REVERSAL:
        raise Conflict("Eine Stornobuchung kann nicht selbst storniert werden.")
    if original.kind is not TransferKind.CHARGE:
        # VAT follows the invoices (a reversed charge gets a credit note with its VAT at the next close),
        # and payments follow the settlement; reversing them by hand would part ledger and documents.
        raise Conflict(
            "Nur Leistungsentgelte können storniert werden; Buchung %(transfer)s ist „%(kind)s“ "
            "und wird über Gutschrift oder Verrechnung korrigiert.",
            transfer=original.id,
            kind=original.kind.value,
        )
    if db.session.scalar(select(Transfer.id).where(Transfer.reverses_id == original.id)) is not None:
        raise Conflict("Die Buchung %(transfer)s ist bereits storniert.", transfer=original.id)
    spec = TransferSpec(
        idempotency_key=f"reversal:{original.id}",
        kind=TransferKind.REVERSAL,
        # into the charge's own month while it is open; whether it is, is decided under the ledger lock
        period=original.period,
        into_open_month=True,
        description=f"Storno von Buchung {original.id}: {reason}"[:500],
        postings=tuple((p.account_id, -p.amount_cents) for p in original.postings),
        booking_id=original.booking_id,
        reverses_id=original.id,
    )
    result = post_transfers([spec], actor)
    if not result.created_ids:
        raise Conflict("Die Buchung %(transfer)s ist bereits storniert.", transfer=original.id)
    reversal = db.session.get(Transfer, result.created_ids[0])
    mark_usage_credited(original.id)  # the usage record this charge billed, if any, is credited
    record_audit(actor, "transfer.reversed", reversal, data={"original": original.id, "reason": reason})
    return reversal


def prorated_cents(unit_price_cents: int, quantity: int | Decimal, days: int, days_in_month: int) -> int:
    """The DESIGN rule ``round_half_up(unit_price * quantity * billable_days / days_in_month, 2)`` in cents (the
    one formula lives in core.money, where the booking page's estimates use it too)."""
    return money.prorated_cents(unit_price_cents, quantity, days, days_in_month)


def metered_cents(unit_price_cents: int, usage_quantity: Decimal) -> int:
    """``round_half_up(unit_price * usage_quantity, 2)`` in cents."""
    exact = Decimal(unit_price_cents) * Decimal(usage_quantity)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
