"""Monthly advances (Abschläge) in the regular billing run.

`run_billing` asks `prepare(period)` for the month's advance transfers and posts them in its one
`post_transfers` call, together with the booking charges; then `record` writes the advance rows and one
advance invoice per plan, participant and month (with its VAT in the same call, so ledger and invoices
agree to the cent). The key ``advance:<plan>:<member>:<YYYY-MM>`` makes a rerun create nothing: an
advance already charged stays as it was, even if the plan changed since; the true-up settles the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from marketplace.core.errors import InvalidInput
from marketplace.core.events import AdvanceCharged, announce
from marketplace.core.timeutil import month_bounds, parse_period
from marketplace.costsharing import invoices
from marketplace.costsharing.models import Advance, CostSharingPlan, Participant
from marketplace.costsharing.queries import open_plans_of_year, participant_days_in, planned_advances
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec
from marketplace.settlement.invoicing import invoice_issued, vat_cents
from marketplace.settlement.models import DocumentType

if TYPE_CHECKING:
    from marketplace.members.models import User


def advance_key(plan_id: int, member_id: int, period: str) -> str:
    return f"advance:{plan_id}:{member_id}:{period}"


def advance_vat_key(plan_id: int, member_id: int, period: str) -> str:
    return f"vat:advance:{plan_id}:{member_id}:{period}"


def clearing_accounts(member_ids: set[int]) -> dict[int, int]:
    if not member_ids:
        return {}
    return dict(
        db.session.execute(
            select(Account.member_id, Account.id).where(
                Account.member_id.in_(member_ids), Account.kind == AccountKind.CLEARING
            )
        ).all()
    )


@dataclass(frozen=True)
class _Due:
    plan: CostSharingPlan
    participant: Participant
    cents: int
    vat: int


@dataclass
class PendingAdvances:
    """The month's advances not yet charged: their specs for `post_transfers`, and what to record after."""

    period: str
    due: list[_Due] = field(default_factory=list)
    specs: list[TransferSpec] = field(default_factory=list)

    def record(self, actor: User | None) -> list[Advance]:
        """After `post_transfers`: the advance rows and their invoices, for advances created just now."""
        if not self.due:
            return []
        already = {
            (plan_id, member_id)
            for plan_id, member_id in db.session.execute(
                select(Advance.plan_id, Advance.member_id).where(Advance.period == self.period)
            )
        }
        self.due = [d for d in self.due if (d.plan.id, d.participant.member_id) not in already]
        if not self.due:  # a concurrent run charged them first; post_transfers replayed its transfers
            return []
        keys = [advance_key(d.plan.id, d.participant.member_id, self.period) for d in self.due]
        vat_keys = [advance_vat_key(d.plan.id, d.participant.member_id, self.period) for d in self.due]
        transfer_ids = dict(
            db.session.execute(
                select(Transfer.idempotency_key, Transfer.id).where(Transfer.idempotency_key.in_(keys + vat_keys))
            ).all()
        )
        counters = invoices.counters_for([d.plan.provider_id for d in self.due])
        first, last = month_bounds(parse_period(self.period))
        advances = []
        for d, key, vat_key in zip(self.due, keys, vat_keys, strict=True):
            service = d.plan.service
            start, end = participant_days_in(d.participant, first, last)
            invoice = invoices.new_document(
                counters[d.plan.provider_id],
                type_code=DocumentType.PARTIAL_INVOICE,
                cause_key=key,
                provider_id=d.plan.provider_id,
                buyer_id=d.participant.member_id,
                period=self.period,
                service_start=start,
                service_end=end,
                vat_category=service.vat_category,
                vat_rate=service.vat_rate,
                net_cents=d.cents,
                vat_cents=d.vat,
                vat_transfer_id=transfer_ids.get(vat_key),
                line_transfer_id=transfer_ids[key],
                line_description=_description(d.plan, self.period),
                actor=actor,
            )
            db.session.add(invoice)
            db.session.flush()
            announce(invoice_issued(invoice))
            advance = Advance(
                plan_id=d.plan.id,
                member_id=d.participant.member_id,
                period=self.period,
                amount_cents=d.cents,
                transfer_id=transfer_ids[key],
                invoice_id=invoice.id,
            )
            db.session.add(advance)
            advances.append(advance)
        db.session.flush()
        return advances


def charged(advances: list[Advance]) -> tuple[AdvanceCharged, ...]:
    """The advances just recorded as the billing run announces them (its e-mail lists each with its plan)."""
    result = []
    for advance in sorted(advances, key=lambda a: (a.member_id, a.plan_id)):
        plan = db.session.get(CostSharingPlan, advance.plan_id)  # loaded by `prepare`: no query
        result.append(
            AdvanceCharged(
                member_id=advance.member_id,
                plan_id=advance.plan_id,
                service_title=plan.service.title,
                year=plan.year,
                amount_cents=advance.amount_cents,
                invoice_id=advance.invoice_id,
            )
        )
    return tuple(result)


def _description(plan: CostSharingPlan, period: str) -> str:
    return f"Abschlag {plan.service.title} – {period} (Kostenteilung {plan.year})"


def prepare(period: str) -> PendingAdvances:
    """The advances `period` owes that are not charged yet (nothing is written)."""
    first = parse_period(period)
    pending = PendingAdvances(period=period)
    plans = open_plans_of_year(first.year)
    if not plans:
        return pending
    charged = {
        (plan_id, member_id)
        for plan_id, member_id in db.session.execute(
            select(Advance.plan_id, Advance.member_id).where(
                Advance.period == period, Advance.plan_id.in_([p.id for p in plans])
            )
        )
    }
    for plan in plans:
        try:
            schedules = planned_advances(plan)
        except InvalidInput:  # a weight is missing: the plan's page names it; the rest is billed
            continue
        for participant in plan.enrolled:  # nothing is charged before the member accepted
            cents = schedules.get(participant.id, [0] * 12)[first.month - 1]
            if cents <= 0 or (plan.id, participant.member_id) in charged:
                continue
            pending.due.append(_Due(plan, participant, cents, vat_cents(cents, plan.service.vat_rate)))
    if not pending.due:
        return pending
    clearing = clearing_accounts(
        {d.plan.provider_id for d in pending.due} | {d.participant.member_id for d in pending.due}
    )
    for d in pending.due:
        buyer, provider = clearing[d.participant.member_id], clearing[d.plan.provider_id]
        pending.specs.append(
            TransferSpec(
                idempotency_key=advance_key(d.plan.id, d.participant.member_id, period),
                kind=TransferKind.CHARGE,
                period=period,
                description=_description(d.plan, period)[:500],
                postings=((buyer, -d.cents), (provider, d.cents)),
            )
        )
        if d.vat > 0:
            pending.specs.append(
                TransferSpec(
                    idempotency_key=advance_vat_key(d.plan.id, d.participant.member_id, period),
                    kind=TransferKind.VAT,
                    period=period,
                    description=f"USt. {d.plan.service.vat_rate:.2f} % zur Abschlagsrechnung "
                    f"{d.plan.service.title} – {period}"[:500],
                    postings=((buyer, -d.vat), (provider, d.vat)),
                )
            )
    return pending
