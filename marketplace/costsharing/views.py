"""Cost-sharing pages: the provider's plans (participants, shares, true-up preview and true-up), each
participant's own share and advances, CSV exports, and the operator's Königsteiner values."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from marketplace.catalogue.models import Service
from marketplace.core.edge import errors_flashed, errors_on, writes
from marketplace.core.errors import InvalidInput
from marketplace.core.forms import ActionForm
from marketplace.core.money import AmountError, cents_to_str, from_cents, parse_amount, to_cents
from marketplace.core.timeutil import today
from marketplace.core.validators import parse_query_int
from marketplace.costsharing import invoices, operations, queries
from marketplace.costsharing.forms import (
    KEY_LABELS,
    KoenigsteinForm,
    LeaveForm,
    ParticipantForm,
    PlanForm,
    PlannedCostForm,
    TrueUpForm,
)
from marketplace.costsharing.models import AllocationKey, CostSharingPlan, Participant, ParticipantState, PlanStatus
from marketplace.extensions import db
from marketplace.members.models import Member, Role
from marketplace.settlement.models import Invoice

bp = Blueprint("costsharing", __name__, url_prefix="/cost-sharing")


def _plan_or_404(plan_id: int) -> CostSharingPlan:
    plan = db.session.get(CostSharingPlan, plan_id)
    if plan is None or not plan.can_view(current_user):
        abort(404)
    return plan


def _managed_plan(plan_id: int) -> CostSharingPlan:
    plan = _plan_or_404(plan_id)
    if not plan.can_manage(current_user):
        abort(403)
    return plan


def _sees_all(plan: CostSharingPlan) -> bool:
    """The provider's staff and operator finance see every participant; a participant only itself."""
    return current_user.member_id == plan.provider_id or current_user.is_operator_finance


def _is_operator() -> bool:
    return current_user.member.is_operator and current_user.has_role(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)


def _members(exclude: int | None = None) -> list[tuple[int, str]]:
    rows = db.session.execute(select(Member.id, Member.name).where(Member.active.is_(True)).order_by(Member.name))
    return [(member_id, name) for member_id, name in rows if member_id != exclude]


def _preview_cents() -> int | None:
    text = (request.args.get("actual") or "").strip()
    if not text:
        return None
    try:
        cents = to_cents(parse_amount(text))
    except AmountError:
        return None
    return cents if 0 <= cents <= operations.MAX_CENTS else None


@bp.get("/")
@login_required
def index() -> str:
    mine = queries.plans_of_provider(current_user.member_id)
    taking_part = queries.plans_of_participant(current_user.member_id)
    everything = []
    if current_user.is_operator_finance:
        everything = list(db.session.scalars(select(CostSharingPlan).order_by(CostSharingPlan.year.desc())))
    form = None
    if current_user.has_role(Role.PROVIDER):
        form = _plan_form()
    return render_template(
        "costsharing/index.html",
        mine=mine,
        taking_part=taking_part,
        everything=everything,
        form=form,
        key_labels=KEY_LABELS,
        is_operator=_is_operator(),
    )


def _plan_form() -> PlanForm:
    form = PlanForm()
    services = db.session.scalars(
        select(Service).where(Service.provider_id == current_user.member_id).order_by(Service.title)
    )
    form.service_id.choices = [(s.id, s.title) for s in services]
    if not form.is_submitted():
        form.year.data = today().year + 1
    return form


@bp.post("/")
@login_required
@writes
def create() -> Response | tuple[str, int]:
    if not current_user.has_role(Role.PROVIDER):
        abort(403)
    form = _plan_form()
    if form.validate_on_submit():
        service = db.session.get(Service, form.service_id.data)
        if service is None or service.provider_id != current_user.member_id:
            abort(404)
        with errors_on(form):
            plan = operations.create_plan(
                current_user,
                service,
                form.year.data,
                to_cents(form.planned_cost.data),
                AllocationKey(form.allocation_key.data),
            )
            flash(_("Kostenteilung %(year)s angelegt.", year=plan.year), "success")
            return redirect(url_for("costsharing.show", plan_id=plan.id))
    return render_template(
        "costsharing/index.html",
        mine=queries.plans_of_provider(current_user.member_id),
        taking_part=queries.plans_of_participant(current_user.member_id),
        everything=[],
        form=form,
        key_labels=KEY_LABELS,
        is_operator=_is_operator(),
    ), 422


def _participant_form(plan: CostSharingPlan) -> ParticipantForm:
    """The invitation form offers the members that may still be invited: not the provider, not the operator,
    not those invited or taking part already (a member that declined may be asked again)."""
    form = ParticipantForm(prefix="p")
    taken = {p.member_id for p in plan.participants if p.state is not ParticipantState.DECLINED}
    operators = set(db.session.scalars(select(Member.id).where(Member.is_operator.is_(True))))
    form.member_id.choices = [
        (member_id, name) for member_id, name in _members(plan.provider_id) if member_id not in taken | operators
    ]
    return form


def _own_participation(plan: CostSharingPlan) -> dict[str, object] | None:
    """The viewer's member's invitation or participation, with its expected share (None for the provider)."""
    if current_user.member_id == plan.provider_id:
        return None
    participant = plan.participant_of(current_user.member_id)
    if participant is None:
        return None
    percent, cents = queries.expected_share(plan, participant)
    return {
        "participant": participant,
        "percent": percent,
        "cents": cents,
        "can_answer": participant.can_answer(current_user) and plan.status is PlanStatus.OPEN,
    }


def _invitations_overview(plan: CostSharingPlan) -> list[dict[str, object]]:
    """For the provider: who is invited or declined, with the share each would carry."""
    rows = []
    for participant in plan.participants:
        if participant.state is ParticipantState.ACCEPTED:
            continue
        percent, cents = queries.expected_share(plan, participant)
        rows.append({"participant": participant, "percent": percent, "cents": cents})
    return rows


def _render_plan(plan: CostSharingPlan, status: int = 200, **forms: object) -> tuple[str, int]:
    preview = _preview_cents()
    problem = None
    try:
        rows = queries.share_rows(plan, preview)
    except InvalidInput as error:
        rows, problem = [], error.detail
    sees_all = _sees_all(plan)
    if not sees_all:
        rows = [r for r in rows if r.participant.member_id == current_user.member_id]
    true_ups = queries.true_ups(plan.id)
    advances = queries.advances_of(plan.id, None if sees_all else current_user.member_id)
    manage = plan.can_manage(current_user)
    context = {
        "plan": plan,
        "rows": rows,
        "problem": problem,
        "sees_all": sees_all,
        "manage": manage and plan.status is PlanStatus.OPEN,
        "preview": preview,
        "true_ups": true_ups if sees_all else {k: v for k, v in true_ups.items() if k == current_user.member_id},
        "advances": advances,
        "key_labels": KEY_LABELS,
        "format_decimal": lambda value: format_decimal(value, format="#,##0.#####"),
        "year_over": today().year > plan.year,
        "participant_form": forms.get("participant_form") or _participant_form(plan),
        "cost_form": forms.get("cost_form")
        or PlannedCostForm(prefix="c", planned_cost=from_cents(plan.planned_cost_cents)),
        "true_up_form": forms.get("true_up_form") or TrueUpForm(prefix="t"),
        "action_form": ActionForm(),
        "charged_members": {a.member_id for a in queries.advances_of(plan.id)},
        "reversed_advances": queries.reversed_advances(plan.id),
        "leave_forms": {p.id: LeaveForm(prefix=f"l{p.id}", leaves_on=p.leaves_on) for p in plan.participants},
        "invoices": {i.id: i for i in _invoices_of(plan)},
        "own": _own_participation(plan),
        "invitations": _invitations_overview(plan) if sees_all else [],
    }
    return render_template("costsharing/plan.html", **context), status


def _invoices_of(plan: CostSharingPlan) -> list[Invoice]:
    ids = [t.invoice_id for t in queries.true_ups(plan.id).values() if t.invoice_id]
    ids += [a.invoice_id for a in queries.advances_of(plan.id) if a.invoice_id]
    if not ids:
        return []
    return list(db.session.scalars(select(Invoice).where(Invoice.id.in_(ids))))


@bp.get("/<int:plan_id>")
@login_required
def show(plan_id: int) -> tuple[str, int]:
    return _render_plan(_plan_or_404(plan_id))


@bp.post("/<int:plan_id>/participants")
@login_required
@writes
def add_participant(plan_id: int) -> Response | tuple[str, int]:
    plan = _managed_plan(plan_id)
    form = _participant_form(plan)
    if form.validate_on_submit():
        member = db.session.get(Member, form.member_id.data)
        if member is None:
            abort(404)
        with errors_on(form):
            operations.add_participant(
                current_user,
                plan,
                member,
                form.joins_on.data,
                leaves_on=form.leaves_on.data,
                weight=form.weight.data,
                population=form.population.data,
                population_date=form.population_date.data,
            )
            flash(
                _(
                    "%(name)s ist eingeladen. Die Stelle nimmt teil und zahlt Abschläge erst, wenn sie zustimmt.",
                    name=member.name,
                ),
                "success",
            )
            return redirect(url_for("costsharing.show", plan_id=plan.id))
    return _render_plan(plan, 422, participant_form=form)


@bp.post("/<int:plan_id>/invitation/<answer>")
@login_required
@writes
def answer(plan_id: int, answer: str) -> Response:
    """The invited member's staff accept or decline (the answer is in the path: accept or decline)."""
    plan = _plan_or_404(plan_id)
    participant = plan.participant_of(current_user.member_id)
    if participant is None or answer not in ("accept", "decline"):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    with errors_flashed():
        if answer == "accept":
            operations.accept_invitation(current_user, participant)
            flash(_("Ihre Stelle nimmt an der Kostenteilung teil."), "success")
        else:
            operations.decline_invitation(current_user, participant)
            flash(_("Sie haben die Einladung abgelehnt; Ihrer Stelle wird nichts berechnet."), "info")
    return redirect(url_for("costsharing.show", plan_id=plan.id))


@bp.post("/<int:plan_id>/participants/<int:participant_id>/leave")
@login_required
@writes
def leave(plan_id: int, participant_id: int) -> Response | tuple[str, int]:
    plan = _managed_plan(plan_id)
    participant = db.session.get(Participant, participant_id)
    if participant is None or participant.plan_id != plan.id:
        abort(404)
    form = LeaveForm(prefix=f"l{participant.id}")
    if not form.validate_on_submit():
        flash(_("Bitte ein gültiges Datum für den Austritt angeben."), "danger")
        return redirect(url_for("costsharing.show", plan_id=plan.id))
    operations.set_leaving(current_user, participant, form.leaves_on.data)
    flash(
        _("%(name)s nimmt bis %(day)s teil.", name=participant.member.name, day=f"{form.leaves_on.data:%d.%m.%Y}"),
        "success",
    )
    return redirect(url_for("costsharing.show", plan_id=plan.id))


@bp.post("/<int:plan_id>/participants/<int:participant_id>/remove")
@login_required
@writes
def remove(plan_id: int, participant_id: int) -> Response:
    plan = _managed_plan(plan_id)
    participant = db.session.get(Participant, participant_id)
    if participant is None or participant.plan_id != plan.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = participant.member.name
    operations.remove_participant(current_user, participant)
    flash(_("%(name)s ist aus der Kostenteilung entfernt.", name=name), "success")
    return redirect(url_for("costsharing.show", plan_id=plan.id))


@bp.post("/<int:plan_id>/planned-cost")
@login_required
@writes
def planned_cost(plan_id: int) -> Response | tuple[str, int]:
    plan = _managed_plan(plan_id)
    form = PlannedCostForm(prefix="c")
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            operations.update_planned_cost(current_user, plan, to_cents(form.planned_cost.data))
            flash(_("Geplante Jahreskosten geändert; noch nicht berechnete Abschläge folgen ihnen."), "success")
            return redirect(url_for("costsharing.show", plan_id=plan.id))
    return _render_plan(plan, 422, cost_form=form)


@bp.post("/<int:plan_id>/true-up")
@login_required
@writes
def true_up(plan_id: int) -> Response | tuple[str, int]:
    plan = _managed_plan(plan_id)
    form = TrueUpForm(prefix="t")
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            operations.true_up(current_user, plan, to_cents(form.actual_cost.data))
            flash(_("Spitzabrechnung gebucht; Schlussrechnungen und Gutschriften sind erstellt."), "success")
            return redirect(url_for("costsharing.show", plan_id=plan.id))
    return _render_plan(plan, 422, true_up_form=form)


def _csv(rows: list[list[str]], name: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerows(rows)
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/<int:plan_id>/shares.csv")
@login_required
def shares_csv(plan_id: int) -> Response:
    """Participants, shares, advances and (expected) true-up; amounts as decimal strings with a point."""
    plan = _plan_or_404(plan_id)
    rows = queries.share_rows(plan, _preview_cents())
    if not _sees_all(plan):
        rows = [r for r in rows if r.participant.member_id == current_user.member_id]
    table = [
        [
            "mitglied_id",
            "mitglied",
            "teilnahme_ab",
            "teilnahme_bis",
            "gewicht",
            "tage",
            "anteil_prozent",
            "plan_anteil",
            "abschlaege_berechnet",
            "abschlaege_im_jahr",
            "endbetrag",
            "differenz_erwartet",
        ]
    ]
    for r in rows:
        table.append(
            [
                str(r.participant.member_id),
                r.participant.member.name,
                r.participant.joins_on.isoformat(),
                r.participant.leaves_on.isoformat() if r.participant.leaves_on else "",
                f"{r.weight.normalize():f}",
                str(r.days),
                f"{r.share_percent:.4f}",
                cents_to_str(r.planned_cents),
                cents_to_str(r.advances_cents),
                cents_to_str(r.year_advances_cents),
                cents_to_str(r.final_cents),
                cents_to_str(r.expected_difference_cents),
            ]
        )
    return _csv(table, f"kostenteilung-{plan.id}-{plan.year}-anteile.csv")


@bp.get("/<int:plan_id>/advances.csv")
@login_required
def advances_csv(plan_id: int) -> Response:
    """The advances month by month: charged (``berechnet``), reversed since (``storniert``, with the
    reversal's booking) and, while the plan is open, those still to come in months that can still be billed
    (``geplant``); a month that is closed without its advance is not listed, as it never gets one."""
    plan = _plan_or_404(plan_id)
    own = None if _sees_all(plan) else current_user.member_id
    advances = queries.advances_of(plan.id, own)
    reversed_by = queries.reversed_advances(plan.id)
    names = {p.member_id: p.member.name for p in plan.participants}
    numbers = {i.id: i.number for i in _invoices_of(plan)}
    table = [["monat", "mitglied_id", "mitglied", "abschlag", "status", "buchung", "rechnung", "storno_buchung"]]
    lines = []
    for a in advances:
        reversal = reversed_by.get(a.id)
        lines.append(
            [
                a.period,
                str(a.member_id),
                names.get(a.member_id, ""),
                cents_to_str(a.amount_cents),
                "storniert" if reversal else "berechnet",
                str(a.transfer_id),
                numbers.get(a.invoice_id, ""),
                str(reversal or ""),
            ]
        )
    try:
        rows = queries.share_rows(plan) if plan.status is PlanStatus.OPEN else []
    except InvalidInput:  # a weight is missing: the plan's page names it; nothing is planned until then
        rows = []
    for row in rows:
        member_id = row.participant.member_id
        if own is not None and member_id != own:
            continue
        for month, cents in row.outstanding:
            period = f"{plan.year:04d}-{month:02d}"
            lines.append([period, str(member_id), names.get(member_id, ""), cents_to_str(cents), "geplant", "", "", ""])
    table += sorted(lines, key=lambda line: (line[0], int(line[1])))
    return _csv(table, f"kostenteilung-{plan.id}-{plan.year}-abschlaege.csv")


@bp.get("/<int:plan_id>/final/<int:member_id>.xml")
@login_required
def final_invoice_xml(plan_id: int, member_id: int) -> Response:
    """The final invoice (advances as prepaid, BT-113) or the credit note of a participant, as XRechnung."""
    plan = _plan_or_404(plan_id)
    if not (_sees_all(plan) or current_user.member_id == member_id):
        abort(404)
    entry = queries.true_ups(plan.id).get(member_id)
    if entry is None or entry.invoice_id is None:
        abort(404)
    invoice = db.session.get(Invoice, entry.invoice_id)
    kind = "gutschrift" if invoice.is_credit_note else "schlussrechnung"
    return Response(
        invoices.render(invoice, entry),
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="xrechnung-{kind}-{invoice.number}.xml"'},
    )


def _koenigstein_form() -> KoenigsteinForm:
    form = KoenigsteinForm()
    form.member_id.choices = _members()
    if not form.is_submitted():
        year = parse_query_int(request.args.get("year"))
        in_range = year is not None and operations.MIN_YEAR <= year <= operations.MAX_YEAR
        form.year.data = year if in_range else today().year + 1
    return form


@bp.get("/koenigstein")
@login_required
def koenigstein() -> str:
    if not _is_operator():
        abort(403)
    form = _koenigstein_form()
    year = form.year.data
    return render_template("costsharing/koenigstein.html", form=form, year=year, values=queries.koenigstein_table(year))


@bp.post("/koenigstein")
@login_required
@writes
def koenigstein_set() -> Response | tuple[str, int]:
    if not _is_operator():
        abort(403)
    form = _koenigstein_form()
    if form.validate_on_submit():
        member = db.session.get(Member, form.member_id.data)
        if member is None:
            abort(404)
        with errors_on(form, InvalidInput):
            operations.set_koenigstein_value(current_user, form.year.data, member, Decimal(form.value.data))
            flash(_("Königsteiner Schlüssel für %(name)s gespeichert.", name=member.name), "success")
            return redirect(url_for("costsharing.koenigstein", year=form.year.data))
    year = form.year.data or today().year
    return render_template(
        "costsharing/koenigstein.html", form=form, year=year, values=queries.koenigstein_table(year)
    ), 422
