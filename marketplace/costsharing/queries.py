"""Reads for cost sharing: plans, their participants' shares, advances charged and true-up previews."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from marketplace.catalogue.models import Service
from marketplace.core.errors import InvalidInput
from marketplace.core.locking import locked
from marketplace.costsharing.allocation import (
    Stake,
    advance_schedule,
    annual_amounts,
    year_bounds,
    year_days,
)
from marketplace.costsharing.models import (
    Advance,
    AllocationKey,
    CostSharingPlan,
    KoenigsteinValue,
    Participant,
    ParticipantState,
    PlanStatus,
    TrueUp,
)
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from marketplace.settlement.invoicing import vat_cents
from marketplace.settlement.models import Invoice


def koenigstein_values(year: int) -> dict[int, Decimal]:
    """member id → Königsteiner value for the year."""
    rows = db.session.execute(
        select(KoenigsteinValue.member_id, KoenigsteinValue.value).where(KoenigsteinValue.year == year)
    )
    return {member_id: Decimal(value) for member_id, value in rows}


def koenigstein_table(year: int) -> list[KoenigsteinValue]:
    return list(
        db.session.scalars(
            select(KoenigsteinValue).where(KoenigsteinValue.year == year).order_by(KoenigsteinValue.member_id)
        )
    )


def key_weight(plan: CostSharingPlan, participant: Participant, koenigstein: dict[int, Decimal]) -> Decimal:
    """The participant's weight under the plan's key; InvalidInput naming what is missing."""
    name = participant.member.name
    if plan.allocation_key is AllocationKey.EQUAL:
        return Decimal(1)
    if plan.allocation_key is AllocationKey.POPULATION:
        if participant.population is None:
            raise InvalidInput("Für %(name)s fehlt die Einwohnerzahl.", name=name)
        return Decimal(participant.population)
    if plan.allocation_key is AllocationKey.KOENIGSTEIN:
        if participant.member_id not in koenigstein:
            raise InvalidInput("Für %(name)s fehlt der Königsteiner Schlüssel %(year)s.", name=name, year=plan.year)
        return koenigstein[participant.member_id]
    if participant.weight is None:
        raise InvalidInput("Für %(name)s fehlt das Gewicht.", name=name)
    return Decimal(participant.weight)


def stakes(plan: CostSharingPlan, also: Participant | None = None) -> list[tuple[Participant, Stake]]:
    """The accepted participants' stakes (the key applies over those who accepted), plus `also` if given (an
    invitee, to show what its share would be)."""
    koenigstein = koenigstein_values(plan.year) if plan.allocation_key is AllocationKey.KOENIGSTEIN else {}
    members = plan.enrolled
    if also is not None and also not in members:
        members = [*members, also]
    return [
        (p, Stake(weight=key_weight(plan, p, koenigstein), joins_on=p.joins_on, leaves_on=p.leaves_on)) for p in members
    ]


def expected_share(plan: CostSharingPlan, participant: Participant) -> tuple[Decimal, int]:
    """(share in percent, annual amount at the planned cost in cents) of `participant` if it takes part
    together with those who accepted; (0, 0) when nobody would carry weight or a weight is missing."""
    try:
        pairs = stakes(plan, also=participant)
    except InvalidInput:
        return Decimal(0), 0
    if not carries_weight(pairs, plan.year):
        return Decimal(0), 0
    amounts = annual_amounts(plan.planned_cost_cents, [stake for _p, stake in pairs], plan.year)
    weighted = [Fraction(stake.weight) * year_days(stake, plan.year) for _p, stake in pairs]
    total = sum(weighted)
    for (p, _stake), amount, weight in zip(pairs, amounts, weighted, strict=True):
        if p is participant:
            share = (
                Decimal(weight.numerator)
                / Decimal(weight.denominator)
                * 100
                / (Decimal(total.numerator) / Decimal(total.denominator))
            )
            return share.quantize(Decimal("0.01")), amount
    return Decimal(0), 0


def invitations_of(member_id: int) -> list[Participant]:
    """The member's open invitations to cost-sharing plans, oldest first."""
    return list(
        db.session.scalars(
            select(Participant)
            .where(Participant.member_id == member_id, Participant.state == ParticipantState.INVITED)
            .order_by(Participant.created_at, Participant.id)
        )
    )


def carries_weight(pairs: list[tuple[Participant, Stake]], year: int) -> bool:
    return any(Fraction(stake.weight) * year_days(stake, year) > 0 for _p, stake in pairs)


def annual_parts(plan: CostSharingPlan, total_cents: int) -> dict[int, int]:
    """participant id → its part of `total_cents` (weight × days, largest remainder); {} without weight."""
    pairs = stakes(plan)
    if not carries_weight(pairs, plan.year):
        return {}
    amounts = annual_amounts(total_cents, [stake for _p, stake in pairs], plan.year)
    return {p.id: amount for (p, _s), amount in zip(pairs, amounts, strict=True)}


def planned_advances(plan: CostSharingPlan) -> dict[int, list[int]]:
    """participant id → its twelve planned advances at the plan's planned cost."""
    pairs = stakes(plan)
    if not carries_weight(pairs, plan.year):
        return {}
    amounts = annual_amounts(plan.planned_cost_cents, [stake for _p, stake in pairs], plan.year)
    return {p.id: advance_schedule(amount, stake, plan.year) for (p, stake), amount in zip(pairs, amounts, strict=True)}


def advances_charged(plan_id: int) -> dict[int, tuple[int, int]]:
    """member id → (net advances charged, VAT invoiced with them), leaving out reversed advances (their
    reversal, and the settlement's credit note for it, took them back)."""
    reversal = aliased(Transfer)
    rows = db.session.execute(
        select(Advance.member_id, func.sum(Advance.amount_cents), func.coalesce(func.sum(Invoice.vat_cents), 0))
        .outerjoin(Invoice, Invoice.id == Advance.invoice_id)
        .outerjoin(reversal, reversal.reverses_id == Advance.transfer_id)
        .where(Advance.plan_id == plan_id, reversal.id.is_(None))
        .group_by(Advance.member_id)
    )
    return {member_id: (int(net), int(vat)) for member_id, net, vat in rows}


def reversed_advances(plan_id: int) -> dict[int, int]:
    """advance id → the transfer that reversed it (its charge taken back; the settlement credited it)."""
    reversal = aliased(Transfer)
    rows = db.session.execute(
        select(Advance.id, reversal.id)
        .join(reversal, reversal.reverses_id == Advance.transfer_id)
        .where(Advance.plan_id == plan_id)
    )
    return {advance_id: reversal_id for advance_id, reversal_id in rows}


def advance_invoices(plan_id: int, member_id: int) -> list[Invoice]:
    """The member's advance invoices of the plan that still stand (not reversed), by month: what its final
    invoice settles (BT-25) and states as prepaid (BT-113)."""
    reversal = aliased(Transfer)
    return list(
        db.session.scalars(
            select(Invoice)
            .join(Advance, Advance.invoice_id == Invoice.id)
            .outerjoin(reversal, reversal.reverses_id == Advance.transfer_id)
            .where(Advance.plan_id == plan_id, Advance.member_id == member_id, reversal.id.is_(None))
            .order_by(Advance.period)
        )
    )


def billable_months(year: int) -> set[int]:
    """The months of `year` an advance can still be charged in: after the latest closed month (a billing run
    posts into no closed month, nor one before it)."""
    latest = db.session.scalar(select(func.max(Period.period)).where(Period.status == PeriodStatus.CLOSED))
    return {month for month in range(1, 13) if latest is None or f"{year:04d}-{month:02d}" > latest}


def advances_of(plan_id: int, member_id: int | None = None) -> list[Advance]:
    statement = select(Advance).where(Advance.plan_id == plan_id).order_by(Advance.period, Advance.member_id)
    if member_id is not None:
        statement = statement.where(Advance.member_id == member_id)
    return list(db.session.scalars(statement))


@dataclass(frozen=True)
class ShareRow:
    participant: Participant
    weight: Decimal
    days: int
    #: The participant's share of the year's cost in percent (weight × days over all), for display.
    share_percent: Decimal
    planned_cents: int
    advances_cents: int
    advances_vat_cents: int
    final_cents: int
    vat_rate: Decimal
    #: The advances charged plus those the schedule still holds for months not charged yet that can still
    #: be billed (a closed month without its advance never gets one).
    year_advances_cents: int = 0
    #: The advances the schedule still holds for such months, month → cents.
    outstanding: tuple[tuple[int, int], ...] = ()

    @property
    def difference_cents(self) -> int:
        """Final amount less the advances charged so far: what a true-up now would charge (+) or credit (−)."""
        return self.final_cents - self.advances_cents

    @property
    def expected_difference_cents(self) -> int:
        """Final amount less all of the year's advances, charged or still to come: the expected true-up."""
        return self.final_cents - self.year_advances_cents

    @property
    def final_vat_cents(self) -> int:
        return vat_cents(self.final_cents, self.vat_rate)


def share_rows(plan: CostSharingPlan, actual_cents: int | None = None) -> list[ShareRow]:
    """Each participant's weight, days, share, planned part, advances charged and final amount at
    `actual_cents` (default: the entered actual cost, else the planned cost)."""
    if plan.status is PlanStatus.TRUED_UP:
        booked = booked_rows(plan)
        if booked is not None:
            return booked
    if actual_cents is None:
        actual_cents = plan.actual_cost_cents if plan.actual_cost_cents is not None else plan.planned_cost_cents
    pairs = stakes(plan)
    charged = advances_charged(plan.id)
    if not pairs:
        return []
    weighted = [Fraction(stake.weight) * year_days(stake, plan.year) for _p, stake in pairs]
    total_weight = sum(weighted)
    planned = annual_parts(plan, plan.planned_cost_cents)
    final = annual_parts(plan, actual_cents)
    schedules = planned_advances(plan)
    charged_months: dict[int, set[int]] = defaultdict(set)
    for advance in advances_of(plan.id):
        charged_months[advance.member_id].add(int(advance.period[5:7]))
    billable = billable_months(plan.year) if plan.status is PlanStatus.OPEN else set()
    rows = []
    for (participant, stake), weight in zip(pairs, weighted, strict=True):
        share = Decimal(0)
        if total_weight:
            share = (Decimal(weight.numerator) / Decimal(weight.denominator) * 100) / (
                Decimal(total_weight.numerator) / Decimal(total_weight.denominator)
            )
        net, vat = charged.get(participant.member_id, (0, 0))
        outstanding = tuple(
            (month, cents)
            for month, cents in enumerate(schedules.get(participant.id, [0] * 12), start=1)
            if cents > 0 and month in billable and month not in charged_months[participant.member_id]
        )
        rows.append(
            ShareRow(
                participant=participant,
                weight=Decimal(stake.weight),
                days=year_days(stake, plan.year),
                share_percent=share.quantize(Decimal("0.0001")),
                planned_cents=planned.get(participant.id, 0),
                advances_cents=net,
                advances_vat_cents=vat,
                final_cents=final.get(participant.id, 0),
                vat_rate=Decimal(plan.service.vat_rate),
                year_advances_cents=net + sum(cents for _month, cents in outstanding),
                outstanding=outstanding,
            )
        )
    return rows


def booked_rows(plan: CostSharingPlan) -> list[ShareRow] | None:
    """A trued-up plan's rows as its true-up booked them: weights, days, planned part, advances and final
    amount as they were then (a Königsteiner value or planned cost changed since alters none of them).
    None for a true-up booked before the weights were kept (its rows are computed as before)."""
    entries = true_ups(plan.id)
    if not entries or any(e.weight is None or e.days is None for e in entries.values()):
        return None
    weighted = {member_id: Fraction(e.weight) * e.days for member_id, e in entries.items()}
    total = sum(weighted.values())
    rows = []
    for participant in plan.participants:
        entry = entries.get(participant.member_id)
        if entry is None:
            continue
        share = Decimal(0)
        if total:
            exact = weighted[participant.member_id] * 100 / total
            share = Decimal(exact.numerator) / Decimal(exact.denominator)
        rows.append(
            ShareRow(
                participant=participant,
                weight=Decimal(entry.weight),
                days=entry.days,
                share_percent=share.quantize(Decimal("0.0001")),
                planned_cents=entry.planned_cents or 0,
                advances_cents=entry.advances_cents,
                advances_vat_cents=entry.advances_vat_cents,
                final_cents=entry.final_cents,
                vat_rate=Decimal(plan.service.vat_rate),
                year_advances_cents=entry.advances_cents,
            )
        )
    return rows


def true_ups(plan_id: int) -> dict[int, TrueUp]:
    return {t.member_id: t for t in db.session.scalars(select(TrueUp).where(TrueUp.plan_id == plan_id))}


def plans_of_provider(member_id: int) -> list[CostSharingPlan]:
    return list(
        db.session.scalars(
            select(CostSharingPlan)
            .join(Service, Service.id == CostSharingPlan.service_id)
            .where(Service.provider_id == member_id)
            .order_by(CostSharingPlan.year.desc(), Service.title)
        )
    )


def plans_of_participant(member_id: int) -> list[CostSharingPlan]:
    return list(
        db.session.scalars(
            select(CostSharingPlan)
            .join(Participant, Participant.plan_id == CostSharingPlan.id)
            .where(Participant.member_id == member_id)
            .order_by(CostSharingPlan.year.desc(), CostSharingPlan.id)
        )
    )


def open_plans_of_year(year: int) -> list[CostSharingPlan]:
    return list(
        db.session.scalars(
            # a true-up under way (it holds the plan's row) finishes first; its plan is then skipped
            locked(
                select(CostSharingPlan)
                .where(CostSharingPlan.year == year, CostSharingPlan.status == PlanStatus.OPEN)
                .order_by(CostSharingPlan.id),
                CostSharingPlan,
            )
        )
    )


def participant_days_in(participant: Participant, first: date, last: date) -> tuple[date, date] | None:
    """The participant's first and last day inside [first, last], or None."""
    start = max(participant.joins_on, first)
    end = min(participant.leaves_on, last) if participant.leaves_on is not None else last
    return (start, end) if start <= end else None


def plan_year_bounds(plan: CostSharingPlan) -> tuple[date, date]:
    return year_bounds(plan.year)


def advance_totals_by_member(plan_ids: list[int]) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = defaultdict(int)
    if plan_ids:
        for advance in db.session.scalars(select(Advance).where(Advance.plan_id.in_(plan_ids))):
            totals[(advance.plan_id, advance.member_id)] += advance.amount_cents
    return totals
