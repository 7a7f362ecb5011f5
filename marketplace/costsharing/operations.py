"""Every write of cost sharing. Functions flush and never commit; the request or CLI command commits.

Raise DomainErrors with German messages: InvalidInput (naming the field), PermissionDenied, Conflict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from marketplace.catalogue.models import Service
from marketplace.core.errors import Conflict, InvalidInput, PermissionDenied
from marketplace.core.events import (
    CostSharingAnswered,
    CostSharingInvited,
    CostSharingLeft,
    CostSharingParticipation,
    CostSharingTruedUp,
    ShareChange,
    TrueUpState,
    announce,
)
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import today, utcnow
from marketplace.costsharing import invoices
from marketplace.costsharing.advances import clearing_accounts
from marketplace.costsharing.allocation import year_bounds
from marketplace.costsharing.models import (
    MAX_POPULATION,
    MAX_WEIGHT,
    WEIGHT_PLACES,
    Advance,
    AllocationKey,
    CostSharingPlan,
    KoenigsteinValue,
    Participant,
    ParticipantState,
    PlanStatus,
    TrueUp,
)
from marketplace.costsharing.queries import (
    advance_invoices,
    annual_parts,
    expected_share,
    koenigstein_values,
    plan_year_bounds,
    share_rows,
)
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec, current_period, post_transfers, require_billable_period
from marketplace.members.models import Role
from marketplace.settlement.invoicing import invoice_issued, vat_cents
from marketplace.settlement.models import DocumentType, Invoice

if TYPE_CHECKING:
    from marketplace.members.models import Member, User

MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_CENTS = 10**13  # 100 billion euros: beyond any public IT budget, safely inside BIGINT


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput.field(
            "year",
            "Bitte ein Jahr zwischen %(min_year)s und %(max_year)s angeben.",
            min_year=MIN_YEAR,
            max_year=MAX_YEAR,
        )


def _check_cents(name: str, cents: int) -> None:
    """The planned (`planned_cost`) or actual (`actual_cost`) annual cost; each has whole messages of its own,
    so they translate (a German label inside a template would not)."""
    planned = name == "planned_cost"
    if cents < 0:
        raise InvalidInput.field(
            name,
            "Die geplanten Jahreskosten darf nicht negativ sein."
            if planned
            else "Die tatsächlichen Jahreskosten darf nicht negativ sein.",
        )
    if cents > MAX_CENTS:
        raise InvalidInput.field(
            name,
            "Die geplanten Jahreskosten ist unplausibel hoch."
            if planned
            else "Die tatsächlichen Jahreskosten ist unplausibel hoch.",
        )


def _require_open(plan: CostSharingPlan) -> None:
    if plan.status is not PlanStatus.OPEN:
        raise Conflict(
            "Der Plan %(year)s ist bereits spitz abgerechnet und kann nicht mehr geändert werden.", year=plan.year
        )


def _require_manager(plan: CostSharingPlan, actor: User) -> None:
    if not plan.can_manage(actor):
        raise PermissionDenied("Nur der Anbieter der Leistung kann die Kostenteilung verwalten.")


def create_plan(
    actor: User, service: Service, year: int, planned_cost_cents: int, allocation_key: AllocationKey
) -> CostSharingPlan:
    """A cost-sharing plan for a service and year. Conflict if the service has one for that year."""
    if not service.can_edit(actor):
        raise PermissionDenied("Nur der Anbieter der Leistung kann eine Kostenteilung anlegen.")
    _check_year(year)
    _check_cents("planned_cost", planned_cost_cents)
    existing = db.session.scalar(
        select(CostSharingPlan.id).where(CostSharingPlan.service_id == service.id, CostSharingPlan.year == year)
    )
    if existing is not None:
        raise Conflict("Für diese Leistung gibt es für %(year)s bereits eine Kostenteilung.", year=year)
    plan = CostSharingPlan(
        service_id=service.id,
        year=year,
        planned_cost_cents=planned_cost_cents,
        allocation_key=AllocationKey(allocation_key),
        status=PlanStatus.OPEN,
        created_by_id=actor.id,
    )
    db.session.add(plan)
    db.session.flush()
    record_audit(actor, "cost_sharing.plan_created", plan, member_id=service.provider_id, data={"year": year})
    return plan


def update_planned_cost(actor: User, plan: CostSharingPlan, planned_cost_cents: int) -> CostSharingPlan:
    """New planned cost: advances not yet charged follow it; those charged stay (the true-up settles)."""
    _require_manager(plan, actor)
    _require_open(plan)
    _check_cents("planned_cost", planned_cost_cents)
    old = plan.planned_cost_cents
    plan.planned_cost_cents = planned_cost_cents
    db.session.flush()
    record_audit(
        actor,
        "cost_sharing.plan_changed",
        plan,
        member_id=plan.provider_id,
        data={"old": old, "new": planned_cost_cents},
    )
    return plan


def _check_dates(plan: CostSharingPlan, joins_on: date, leaves_on: date | None) -> None:
    first, last = year_bounds(plan.year)
    if joins_on > last:
        raise InvalidInput.field(
            "joins_on", "Der Beitritt muss spätestens am %(last)s liegen.", last=format(last, "%d.%m.%Y")
        )
    if leaves_on is not None:
        if leaves_on < joins_on:
            raise InvalidInput.field("leaves_on", "Der Austritt darf nicht vor dem Beitritt liegen.")
        if leaves_on < first:
            raise InvalidInput.field(
                "leaves_on", "Der Austritt muss im Jahr %(year)s oder später liegen.", year=plan.year
            )


def add_participant(
    actor: User,
    plan: CostSharingPlan,
    member: Member,
    joins_on: date,
    *,
    leaves_on: date | None = None,
    weight: Decimal | None = None,
    population: int | None = None,
    population_date: date | None = None,
) -> Participant:
    """The provider invites a member to take part from `joins_on` (until `leaves_on`, inclusive) with its
    key's weight. The member takes part, carries a share and is charged only once its staff accepted
    (`accept_invitation`); a member that declined may be invited again.

    Raises InvalidInput (dates, a missing or non-positive weight or population, no Königsteiner value
    for the year), PermissionDenied, Conflict (already invited or taking part, plan trued up, provider
    itself, the operator).
    """
    _require_manager(plan, actor)
    _require_open(plan)
    if member.id == plan.provider_id:
        raise Conflict("Der Anbieter trägt die Kosten nicht als Teilnehmer.")
    if member.is_operator:
        raise Conflict("Der Betreiber der Leistungsbörse nimmt an Kostenteilungen nicht teil.")
    if not member.active:
        raise Conflict("%(member)s ist kein aktives Mitglied.", member=member.name)
    existing = plan.participant_of(member.id)
    if existing is not None and existing.state is ParticipantState.ACCEPTED:
        raise Conflict("%(member)s nimmt an dieser Kostenteilung bereits teil.", member=member.name)
    if existing is not None and existing.state is ParticipantState.INVITED:
        raise Conflict("%(member)s ist bereits eingeladen; die Antwort steht noch aus.", member=member.name)
    _check_dates(plan, joins_on, leaves_on)
    key = plan.allocation_key
    if population is not None and population > MAX_POPULATION:
        raise InvalidInput.field("population", "Die Einwohnerzahl ist höchstens 2.147.483.647.")
    if weight is not None and (not weight.is_finite() or weight > MAX_WEIGHT):
        raise InvalidInput.field("weight", "Das Gewicht ist höchstens 999.999.999,99999.")
    if weight is not None and weight.as_tuple().exponent < -WEIGHT_PLACES:  # type: ignore[operator]
        raise InvalidInput.field("weight", "Das Gewicht hat höchstens fünf Nachkommastellen.")
    if key is AllocationKey.POPULATION:
        if population is None or population <= 0:
            raise InvalidInput.field("population", "Bitte die Einwohnerzahl angeben (größer als 0).")
        if population_date is None:
            raise InvalidInput.field("population_date", "Bitte den Stichtag der Einwohnerzahl angeben.")
    if key is AllocationKey.CUSTOM and (weight is None or weight <= 0):
        raise InvalidInput.field("weight", "Bitte ein Gewicht größer als 0 angeben.")
    if key is AllocationKey.KOENIGSTEIN and member.id not in koenigstein_values(plan.year):
        raise InvalidInput.field(
            "member_id",
            "Für %(member)s ist kein Königsteiner Schlüssel %(year)s hinterlegt; der Betreiber trägt ihn ein.",
            member=member.name,
            year=plan.year,
        )
    terms = {
        "joins_on": joins_on,
        "leaves_on": leaves_on,
        "weight": weight if key is AllocationKey.CUSTOM else None,
        "population": population if key is AllocationKey.POPULATION else None,
        "population_date": population_date if key is AllocationKey.POPULATION else None,
    }
    if existing is not None:  # declined before: invited again with the new terms
        participant = existing
        for name, value in terms.items():
            setattr(participant, name, value)
        participant.state = ParticipantState.INVITED
        participant.decided_at = None
        participant.decided_by_id = None
    else:
        participant = Participant(plan_id=plan.id, member_id=member.id, created_by_id=actor.id, **terms)
        participant.state = ParticipantState.INVITED
        db.session.add(participant)
    db.session.flush()
    db.session.refresh(plan, ["participants"])
    record_audit(
        actor,
        "cost_sharing.participant_invited",
        participant,
        member_id=plan.provider_id,
        data={"plan": plan.id, "member": member.id, "joins_on": joins_on.isoformat()},
    )
    announce(_participation_event(CostSharingInvited, plan, participant, actor))
    return participant


def _participation_event(
    kind: type[CostSharingParticipation],
    plan: CostSharingPlan,
    participant: Participant,
    actor: User,
    **extra: Any,
) -> CostSharingParticipation:
    _percent, expected = expected_share(plan, participant)
    return kind(
        plan_id=plan.id,
        participant_id=participant.id,
        member_id=participant.member_id,
        provider_id=plan.provider_id,
        service_title=plan.service.title,
        year=plan.year,
        state=participant.state.value,
        expected_cents=expected,
        actor_id=actor.id,
        **extra,
    )


def _planned_parts(plan: CostSharingPlan) -> dict[int, int]:
    """participant id → annual part at the planned cost, over those who accepted ({} while a weight is missing:
    then nobody's share can be stated)."""
    try:
        return annual_parts(plan, plan.planned_cost_cents)
    except InvalidInput:
        return {}


def _answer(actor: User, participant: Participant, state: ParticipantState) -> Participant:
    if not participant.can_answer(actor):
        raise PermissionDenied("Nur die Beschäftigten des eingeladenen Mitglieds können die Einladung beantworten.")
    plan = db.session.scalar(
        locked(select(CostSharingPlan).where(CostSharingPlan.id == participant.plan_id), CostSharingPlan)
    )
    _require_open(plan)
    participant = db.session.scalar(locked(select(Participant).where(Participant.id == participant.id), Participant))
    if participant.state is not ParticipantState.INVITED:
        raise Conflict("Diese Einladung ist bereits beantwortet.")
    before = _planned_parts(plan)
    participant.state = state
    participant.decided_at = utcnow()
    participant.decided_by_id = actor.id
    db.session.flush()
    db.session.refresh(plan, ["participants"])
    record_audit(
        actor,
        f"cost_sharing.invitation_{state.value}",
        participant,
        member_id=participant.member_id,
        data={"plan": plan.id},
    )
    changes = _share_changes(plan, before, participant.id)
    announce(_participation_event(CostSharingAnswered, plan, participant, actor, share_changes=changes))
    return participant


def _share_changes(plan: CostSharingPlan, before: dict[int, int], changed_id: int) -> tuple[ShareChange, ...]:
    """The other accepted participants whose annual share at the planned cost differs from `before`."""
    after = _planned_parts(plan)
    members = {p.id: p.member_id for p in plan.enrolled}
    return tuple(
        ShareChange(member_id=members[pid], old_cents=before[pid], new_cents=after[pid])
        for pid in sorted(before.keys() & after.keys())
        if pid != changed_id and before[pid] != after[pid]
    )


def accept_invitation(actor: User, participant: Participant) -> Participant:
    """The member's staff accept: from now on the member carries its share and is charged its advances;
    the other participants' shares change with it. PermissionDenied, Conflict (answered, plan trued up)."""
    return _answer(actor, participant, ParticipantState.ACCEPTED)


def decline_invitation(actor: User, participant: Participant) -> Participant:
    """The member's staff decline: the member takes no part and is charged nothing."""
    return _answer(actor, participant, ParticipantState.DECLINED)


def set_leaving(actor: User, participant: Participant, leaves_on: date | None) -> Participant:
    """The participant leaves after `leaves_on` (None: it stays). Advances already charged stay."""
    plan = participant.plan
    _require_manager(plan, actor)
    _require_open(plan)
    _check_dates(plan, participant.joins_on, leaves_on)
    unchanged = participant.leaves_on == leaves_on
    before = _planned_parts(plan)
    participant.leaves_on = leaves_on
    db.session.flush()
    record_audit(
        actor,
        "cost_sharing.participant_leaves",
        participant,
        member_id=plan.provider_id,
        data={"leaves_on": leaves_on.isoformat() if leaves_on else None},
    )
    if not unchanged:
        changes = _share_changes(plan, before, participant.id)
        announce(
            _participation_event(CostSharingLeft, plan, participant, actor, leaves_on=leaves_on, share_changes=changes)
        )
    return participant


def remove_participant(actor: User, participant: Participant) -> None:
    """Undo a participation entered by mistake: only while no advance was charged for it (Conflict)."""
    plan = participant.plan
    _require_manager(plan, actor)
    _require_open(plan)
    charged = db.session.scalar(
        select(Advance.id).where(Advance.plan_id == plan.id, Advance.member_id == participant.member_id).limit(1)
    )
    if charged is not None:
        raise Conflict(
            "Für %(member)s sind schon Abschläge berechnet; bitte stattdessen den Austritt eintragen.",
            member=participant.member.name,
        )
    record_audit(
        actor,
        "cost_sharing.participant_removed",
        participant,
        member_id=plan.provider_id,
        data={"plan": plan.id, "member": participant.member_id},
    )
    before = _planned_parts(plan)
    removed = _participation_event(CostSharingLeft, plan, participant, actor, removed=True)
    db.session.delete(participant)
    db.session.flush()
    db.session.expire(plan, ["participants"])
    announce(replace(removed, share_changes=_share_changes(plan, before, participant.id)))


def set_koenigstein_value(actor: User, year: int, member: Member, value: Decimal) -> KoenigsteinValue:
    """The operator enters (or corrects) a member's Königsteiner value for a year (percent, > 0)."""
    if not (actor.member.is_operator and actor.has_role(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)):
        raise PermissionDenied("Nur der Betreiber trägt den Königsteiner Schlüssel ein.")
    _check_year(year)
    if value is None or value <= 0 or value > 100:
        raise InvalidInput.field("value", "Bitte einen Anteil größer als 0 und höchstens 100 angeben.")
    if value != value.quantize(Decimal("0.00001")):
        raise InvalidInput.field("value", "Höchstens fünf Nachkommastellen.")
    row = db.session.scalar(
        select(KoenigsteinValue).where(KoenigsteinValue.year == year, KoenigsteinValue.member_id == member.id)
    )
    if row is None:
        row = KoenigsteinValue(year=year, member_id=member.id, value=value, entered_by_id=actor.id)
        db.session.add(row)
    else:
        row.value, row.entered_by_id, row.entered_at = value, actor.id, utcnow()
    db.session.flush()
    record_audit(
        actor, "cost_sharing.koenigstein_set", row, data={"year": year, "member": member.id, "value": str(value)}
    )
    return row


def true_up_key(plan_id: int, member_id: int) -> str:
    return f"trueup:{plan_id}:{member_id}"


def true_up_vat_key(plan_id: int, member_id: int) -> str:
    return f"vat:trueup:{plan_id}:{member_id}"


def true_up(actor: User, plan: CostSharingPlan, actual_cost_cents: int) -> list[TrueUp]:
    """The year-end true-up (Spitzabrechnung) at the actual cost, in the open month.

    Each participant's final amount (actual cost × its share over its days) minus the advances charged is
    charged (final invoice with the advances as prepaid) or credited (credit note), all in one
    `post_transfers` call. Raises PermissionDenied, Conflict (year not over, already trued up, month
    closed) or InvalidInput (a negative cost, nobody to carry it).
    """
    _require_manager(plan, actor)
    _check_cents("actual_cost", actual_cost_cents)
    plan = db.session.scalar(
        # the state after a true-up we waited for
        locked(select(CostSharingPlan).where(CostSharingPlan.id == plan.id), CostSharingPlan)
    )
    _require_open(plan)
    first, last = plan_year_bounds(plan)
    if today() <= last:
        raise Conflict("Die Spitzabrechnung für %(year)s ist erst nach Ablauf des Jahres möglich.", year=plan.year)
    period = current_period()
    require_billable_period(period)
    rows = share_rows(plan, actual_cost_cents)
    if not rows or not any(row.days for row in rows):
        raise InvalidInput.field("actual_cost", "Die Kostenteilung hat keine Teilnehmer, die Kosten tragen.")
    service = plan.service
    rate = Decimal(service.vat_rate)
    clearing = clearing_accounts({plan.provider_id} | {row.participant.member_id for row in rows})
    provider_account = clearing[plan.provider_id]
    specs: list[TransferSpec] = []
    settled: list[tuple[TrueUp, int]] = []  # (row, VAT to post: + buyer pays, − provider refunds)
    for row in rows:
        member_id = row.participant.member_id
        difference = row.difference_cents
        if difference > 0:
            vat = row.final_vat_cents - row.advances_vat_cents
        elif difference < 0:
            vat = -vat_cents(-difference, rate)
        else:
            vat = 0
        entry = TrueUp(
            plan_id=plan.id,
            member_id=member_id,
            weight=row.weight,
            days=row.days,
            planned_cents=row.planned_cents,
            final_cents=row.final_cents,
            advances_cents=row.advances_cents,
            advances_vat_cents=row.advances_vat_cents,
            difference_cents=difference,
            period=period,
        )
        settled.append((entry, vat))
        buyer_account = clearing[member_id]
        label = "Nachforderung" if difference > 0 else "Erstattung"
        if difference:
            specs.append(
                TransferSpec(
                    idempotency_key=true_up_key(plan.id, member_id),
                    kind=TransferKind.CHARGE,
                    period=period,
                    description=f"Spitzabrechnung {service.title} {plan.year} – {label}"[:500],
                    postings=((buyer_account, -difference), (provider_account, difference)),
                )
            )
        if vat:
            specs.append(
                TransferSpec(
                    idempotency_key=true_up_vat_key(plan.id, member_id),
                    kind=TransferKind.VAT,
                    period=period,
                    description=f"USt. {rate:.2f} % zur Spitzabrechnung {service.title} {plan.year}"[:500],
                    postings=((buyer_account, -vat), (provider_account, vat)),
                )
            )
    post_transfers(specs, actor)
    keys = [spec.idempotency_key for spec in specs]
    transfer_ids = (
        dict(
            db.session.execute(
                select(Transfer.idempotency_key, Transfer.id).where(Transfer.idempotency_key.in_(keys))
            ).all()
        )
        if keys
        else {}
    )
    counter = invoices.counters_for([plan.provider_id])[plan.provider_id]
    documents: dict[int, Invoice] = {}
    for entry, vat in settled:
        participant = plan.participant_of(entry.member_id)
        entry.transfer_id = transfer_ids.get(true_up_key(plan.id, entry.member_id))
        start, end = max(participant.joins_on, first), min(participant.leaves_on or last, last)
        common = {
            "cause_key": f"trueup:{plan.id}:{entry.member_id}",
            "provider_id": plan.provider_id,
            "buyer_id": entry.member_id,
            "period": period,
            "service_start": start,
            "service_end": end,
            "vat_category": service.vat_category,
            "vat_rate": rate,
            "vat_transfer_id": transfer_ids.get(true_up_vat_key(plan.id, entry.member_id)),
            "actor": actor,
        }
        # the advance invoices the final document settles (not those reversed and credited since)
        advances = advance_invoices(plan.id, entry.member_id)
        if entry.difference_cents > 0:
            invoice = invoices.new_document(
                counter,
                type_code=DocumentType.INVOICE,
                net_cents=entry.final_cents,
                vat_cents=vat_cents(entry.final_cents, rate),
                line_transfer_id=entry.transfer_id,
                line_description=f"Kostenanteil {service.title} {plan.year} – Schlussrechnung "
                f"({start:%d.%m.%Y}–{end:%d.%m.%Y})",
                prepaid_cents=entry.prepaid_cents,
                preceding=advances,
                **common,
            )
        elif entry.difference_cents < 0:
            invoice = invoices.new_document(
                counter,
                type_code=DocumentType.CREDIT_NOTE,
                net_cents=-entry.difference_cents,
                vat_cents=-vat,
                line_transfer_id=entry.transfer_id,
                line_description=f"Erstattung zu viel gezahlter Abschläge {service.title} {plan.year}",
                preceding=advances,
                **common,
            )
        else:
            invoice = None
        if invoice is not None:
            db.session.add(invoice)
            db.session.flush()
            announce(invoice_issued(invoice))
            entry.invoice_id = invoice.id
            documents[entry.member_id] = invoice
        db.session.add(entry)
    plan.status = PlanStatus.TRUED_UP
    plan.actual_cost_cents = actual_cost_cents
    plan.trued_up_at = utcnow()
    plan.trued_up_by_id = actor.id
    db.session.flush()
    record_audit(
        actor,
        "cost_sharing.trued_up",
        plan,
        member_id=plan.provider_id,
        data={"actual": actual_cost_cents, "period": period},
    )
    announce(
        CostSharingTruedUp(
            plan_id=plan.id,
            provider_id=plan.provider_id,
            service_title=service.title,
            year=plan.year,
            period=period,
            actual_cost_cents=actual_cost_cents,
            entries=tuple(_true_up_state(entry, documents.get(entry.member_id)) for entry, _vat in settled),
            actor_id=actor.id,
        )
    )
    return [entry for entry, _vat in settled]


def _true_up_state(entry: TrueUp, document: Invoice | None) -> TrueUpState:
    amount = 0
    if document is not None:  # a final invoice asks for what the advances left; a credit note pays back all of it
        amount = document.gross_cents if document.is_credit_note else document.due_cents
    return TrueUpState(
        member_id=entry.member_id,
        final_cents=entry.final_cents,
        advances_cents=entry.advances_cents,
        difference_cents=entry.difference_cents,
        invoice_id=document.id if document is not None else None,
        invoice_number=document.number if document is not None else "",
        invoice_amount_cents=amount,
    )
