"""Reads for finance staff: month overview, statements per member and month, volumes for the charts.

Everything is integer cents; amounts are summed in the database or in Python ints, never as floats.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.core.timeutil import next_month, parse_period, period_of, previous_month, today
from marketplace.extensions import db
from marketplace.ledger.models import Account, Period, PeriodStatus, Posting, Transfer, TransferKind
from marketplace.ledger.operations import counts_as_closed, first_month, latest_closed_period
from marketplace.members.models import Member


@dataclass(frozen=True)
class PeriodRow:
    period: str
    status: PeriodStatus
    closed_at: datetime | None
    transfers: int
    charged_cents: int
    #: Over, open, and every earlier month closed: the month that may be closed next (month-end decides
    #: whether its billing and usage let it).
    closable: bool
    #: Over or current, and open: a billing run may run for it.
    billable: bool = False


def period_overview(limit: int = 24) -> list[PeriodRow]:
    """The months from the installation's first (`first_month`) to the current one, plus any with postings
    or a status; newest first. A month before a closed month counts as closed, with or without a row."""
    current = today().replace(day=1)
    statuses = {row.period: row for row in db.session.scalars(select(Period))}
    stats = {
        period: (count, int(charged or 0))
        for period, count, charged in db.session.execute(
            select(
                Transfer.period,
                func.count(),
                func.sum(case((Transfer.kind == TransferKind.CHARGE, Transfer.amount_cents), else_=0)),
            ).group_by(Transfer.period)
        )
    }
    months = set(statuses) | set(stats) | {period_of(current), period_of(previous_month(current))}
    first = first_month()
    if first is not None:
        month = parse_period(first)
        while month < current:
            months.add(period_of(month))
            month = next_month(month)
    latest = latest_closed_period()
    ordered = sorted(months)
    open_before = False  # an open month earlier than the one at hand (it must be closed first)
    rows = []
    for period in ordered:
        row = statuses.get(period)
        closed = counts_as_closed(period, latest) or (row is not None and row.status is PeriodStatus.CLOSED)
        status = PeriodStatus.CLOSED if closed else PeriodStatus.OPEN
        count, charged = stats.get(period, (0, 0))
        over = parse_period(period) < current
        rows.append(
            PeriodRow(
                period=period,
                status=status,
                closed_at=row.closed_at if row is not None else None,
                transfers=count,
                charged_cents=charged,
                closable=not closed and over and not open_before,
                billable=not closed and parse_period(period) <= current,
            )
        )
        open_before = open_before or (not closed and over)
    return list(reversed(rows))[:limit]


def berlin_date(moment: datetime) -> date:
    """The calendar day in Germany of a stored moment (SQLite hands back naive UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo("Europe/Berlin")).date()


# --- statements ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeLine:
    counterparty_id: int
    counterparty: str
    service: str
    transfers: int
    cents: int


@dataclass(frozen=True)
class TransferLine:
    transfer_id: int
    kind: str
    description: str
    counterparty: str
    reverses_id: int | None
    cents: int


@dataclass(frozen=True)
class StatementEntry:
    """One transfer on a member's statement, as the CSV lists it: when, which, in which section, how much."""

    transfer_id: int
    booked_on: date
    kind: TransferKind
    #: ``received`` / ``given`` (charges as provider / buyer), ``reversal`` or ``other`` (VAT, payments).
    section: str
    counterparty: str
    text: str
    cents: int


@dataclass
class Statement:
    member_id: int
    member_name: str
    period: str
    opening_cents: int
    received: list[ChargeLine] = field(default_factory=list)
    given: list[ChargeLine] = field(default_factory=list)
    reversals: list[TransferLine] = field(default_factory=list)
    others: list[TransferLine] = field(default_factory=list)
    #: Every transfer of the month one by one, in booking order (the sections above group them).
    entries: list[StatementEntry] = field(default_factory=list)

    @property
    def received_cents(self) -> int:
        return sum(line.cents for line in self.received)

    @property
    def given_cents(self) -> int:
        return sum(line.cents for line in self.given)

    @property
    def reversals_cents(self) -> int:
        return sum(line.cents for line in self.reversals)

    @property
    def others_cents(self) -> int:
        return sum(line.cents for line in self.others)

    @property
    def vat_cents(self) -> int:
        """The VAT of the month's invoices and credit notes (part of `others`)."""
        return sum(line.cents for line in self.others if line.kind == TransferKind.VAT.value)

    @property
    def payments_cents(self) -> int:
        """Payments and payouts (the rest of `others`)."""
        return self.others_cents - self.vat_cents

    @property
    def first_day(self) -> date:
        return parse_period(self.period)

    @property
    def last_day(self) -> date:
        return next_month(self.first_day) - timedelta(days=1)

    @property
    def previous_period(self) -> str:
        return period_of(previous_month(self.first_day))

    @property
    def next_period(self) -> str:
        return period_of(next_month(self.first_day))

    @property
    def closing_cents(self) -> int:
        """Opening balance plus everything posted in the month (charges given count negative)."""
        return self.opening_cents + self.received_cents - self.given_cents + self.reversals_cents + self.others_cents


def statement_for(member: Member, period: str) -> Statement:
    """The member's statement of `period` (all its accounts): opening and closing balance by month order,
    charges received and given by counterparty and service, reversals one by one, everything else by
    transfer. Raises ValueError for a malformed period."""
    parse_period(period)
    account_ids = list(db.session.scalars(select(Account.id).where(Account.member_id == member.id)))
    opening = db.session.scalar(
        select(func.coalesce(func.sum(Posting.amount_cents), 0))
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .where(Posting.account_id.in_(account_ids), Transfer.period < period)
    )
    statement = Statement(member.id, member.name, period, int(opening or 0))
    buyer = aliased(Member)
    provider = aliased(Member)
    rows = db.session.execute(
        select(
            Transfer.id,
            Transfer.kind,
            Transfer.description,
            Transfer.reverses_id,
            Transfer.created_at,
            func.sum(Posting.amount_cents),
            Service.title,
            buyer.id,
            buyer.name,
            provider.id,
            provider.name,
        )
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .outerjoin(Booking, Booking.id == Transfer.booking_id)
        .outerjoin(Service, Service.id == Booking.service_id)
        .outerjoin(buyer, buyer.id == Booking.buyer_id)
        .outerjoin(provider, provider.id == Service.provider_id)
        .where(Posting.account_id.in_(account_ids), Transfer.period == period)
        .group_by(
            Transfer.id,
            Transfer.kind,
            Transfer.description,
            Transfer.reverses_id,
            Transfer.created_at,
            Service.title,
            buyer.id,
            buyer.name,
            provider.id,
            provider.name,
        )
        .order_by(Transfer.id)
    ).all()
    received: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    given: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for tid, kind, description, reverses_id, created, cents, title, buyer_id, buyer_name, prov_id, prov_name in rows:
        cents = int(cents)
        if buyer_id is not None:
            other = (buyer_id, buyer_name) if prov_id == member.id else (prov_id, prov_name)
        else:
            other = (0, "")
        text = description
        if kind is TransferKind.CHARGE and title is not None:
            text = title
            if cents >= 0:
                section = "received"
                entry = received[(other[0], other[1], title)]
                entry[0] += 1
                entry[1] += cents
            else:
                section = "given"
                entry = given[(other[0], other[1], title)]
                entry[0] += 1
                entry[1] -= cents
        elif kind is TransferKind.REVERSAL:
            section = "reversal"
            statement.reversals.append(TransferLine(tid, kind.value, description, other[1], reverses_id, cents))
        else:
            section = "other"
            statement.others.append(TransferLine(tid, kind.value, description, other[1], reverses_id, cents))
        statement.entries.append(StatementEntry(tid, berlin_date(created), kind, section, other[1], text, cents))
    statement.received = [ChargeLine(k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(received.items())]
    statement.given = [ChargeLine(k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(given.items())]
    return statement


def member_balance_cents(member_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Account.balance_cents), 0)).where(Account.member_id == member_id)
        )
        or 0
    )


# --- volumes for the dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRow:
    period: str
    provider_id: int
    provider: str
    service: str
    cents: int


def charged_volume(periods: list[str], member_id: int | None = None) -> list[VolumeRow]:
    """Net charged volume (charges less their reversals) per month, provider and service.

    `member_id` narrows it to what the member provided or bought."""
    if not periods:
        return []
    provider = aliased(Member)
    signed = case((Transfer.kind == TransferKind.REVERSAL, -Transfer.amount_cents), else_=Transfer.amount_cents)
    statement = (
        select(Transfer.period, provider.id, provider.name, Service.title, func.sum(signed))
        .join(Booking, Booking.id == Transfer.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .join(provider, provider.id == Service.provider_id)
        .where(Transfer.kind.in_([TransferKind.CHARGE, TransferKind.REVERSAL]), Transfer.period.in_(periods))
        .group_by(Transfer.period, provider.id, provider.name, Service.title)
        .order_by(Transfer.period, provider.name, Service.title)
    )
    if member_id is not None:
        statement = statement.where((Service.provider_id == member_id) | (Booking.buyer_id == member_id))
    return [VolumeRow(p, pid, name, title, int(cents)) for p, pid, name, title, cents in db.session.execute(statement)]


def recent_periods(count: int = 6) -> list[str]:
    """The last `count` months up to the current one, oldest first."""
    month = today().replace(day=1)
    months = []
    for _ in range(count):
        months.append(period_of(month))
        month = previous_month(month)
    return list(reversed(months))


def billable_periods() -> list[str]:
    """The months a billing run may charge: every open month up to the current one, newest first."""
    current = period_of(today())
    return [
        row.period for row in period_overview(limit=120) if row.status is PeriodStatus.OPEN and row.period <= current
    ]
