"""Finance pages: the dashboard (balances, volumes, months, journal), reversals, statements and exports.
Operator finance sees every member; member finance its own. The month-end pages (billing runs, closing a
month) join this blueprint from `marketplace.monthend.views`, the statement page and its CSV (with the
documents behind each line) from `marketplace.settlement.statements`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.bookings.views import MONTH_CLOSED
from marketplace.core.edge import errors_flashed, errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.timeutil import parse_month, parse_period, period_of, previous_month, today
from marketplace.core.validators import parse_query_int
from marketplace.extensions import db
from marketplace.ledger import exports
from marketplace.ledger.charts import hbar_chart
from marketplace.ledger.forms import BillingForm, ReverseForm, billing_form
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.operations import counts_as_closed, current_period, latest_closed_period, reverse_transfer
from marketplace.ledger.queries import journal_statement, member_balances, reversals_of
from marketplace.ledger.reports import PeriodRow, charged_volume, period_overview, recent_periods
from marketplace.members.auth import role_required
from marketplace.members.models import Member, Role
from marketplace.members.queries import visible_ledger_member

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

#: What month-end knows about the open months of the months table (billing missing, what blocks a close),
#: keyed by month: month-end (above the ledger) registers it when its pages join this blueprint.
MONTH_NOTES: list[Callable[[list[PeriodRow]], dict[str, Any]]] = []

FINANCE = (Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)


@bp.record_once
def _offer_month_closed(state: BlueprintSetupState) -> None:
    """The booking page (bookings) says when usage entered for a closed month will be billed."""
    state.app.extensions[MONTH_CLOSED] = lambda period: counts_as_closed(period, latest_closed_period())


def _require_operator_finance() -> None:
    if not current_user.is_operator_finance:
        abort(403)


def _period_arg(name: str = "period") -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return parse_month(value)
    except ValueError:
        return None


def _member_filter() -> int | None:
    """The member chosen in the filter (None: all; an unreadable value is ignored); member finance always
    gets its own member, and a member that does not exist is a 404, as in the API."""
    return visible_ledger_member(current_user, parse_query_int(request.args.get("member_id")))


def _eur(cents: int) -> str:
    return current_app.jinja_env.filters["eur"](cents)


def render_dashboard(billing_form: BillingForm | None, status: int = 200) -> tuple[str, int]:
    own = visible_ledger_member(current_user, None)
    member_id = _member_filter()
    period = _period_arg()
    balances = member_balances(own)
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 25)
    journal = paginate(journal_statement(member_id, period), page, per_page, scalars=False)
    reversed_by = reversals_of(sorted({transfer.id for _p, transfer, _a, _m in journal.items}))

    months = recent_periods(6)
    volume = charged_volume(months, member_id)
    by_month_provider: dict[tuple[str, str], int] = {}
    by_service: dict[str, int] = {}
    for row in volume:
        by_month_provider[(row.period, row.provider)] = by_month_provider.get((row.period, row.provider), 0) + row.cents
        key = f"{row.service} ({row.provider})"
        by_service[key] = by_service.get(key, 0) + row.cents
    balance_chart = hbar_chart(
        "chart-balances",
        _("Salden je Mitglied"),
        _("Waagerechte Balken: nach rechts erhält das Mitglied Geld, nach links (schraffiert) schuldet es."),
        [(b.member_name, b.balance_cents) for b in balances],
        _eur,
    )
    month_rows = [(f"{month} · {provider}", cents) for (month, provider), cents in sorted(by_month_provider.items())]
    month_chart = hbar_chart(
        "chart-months",
        _("Abgerechnetes Volumen je Monat und Anbieter"),
        _("Abrechnungen abzüglich Stornos der letzten sechs Monate, je Monat und anbietendem Mitglied."),
        month_rows,
        _eur,
    )
    service_rows = sorted(by_service.items(), key=lambda item: -item[1])
    service_chart = hbar_chart(
        "chart-services",
        _("Abgerechnetes Volumen je Leistung"),
        _("Abrechnungen abzüglich Stornos der letzten sechs Monate, je Leistung (anbietendes Mitglied)."),
        service_rows,
        _eur,
    )
    members = (
        db.session.scalars(db.select(Member).order_by(Member.name)).all() if current_user.is_operator_finance else []
    )
    last_month = period_of(previous_month(today()))
    periods = period_overview() if current_user.is_operator_finance else []
    return render_template(
        "ledger/index.html",
        balances=balances,
        total_cents=sum(b.balance_cents for b in balances),
        journal=journal,
        reversed_by=reversed_by,
        form=billing_form,
        periods=periods,
        month_notes={k: v for notes in MONTH_NOTES for k, v in notes(periods).items()},
        members=members,
        member_id=member_id,
        period=period,
        balance_chart=balance_chart,
        month_chart=month_chart,
        month_rows=month_rows,
        service_chart=service_chart,
        service_rows=service_rows,
        months=months,
        last_month=last_month,
        statement_member=member_id or own,
    ), status


@bp.get("")
@role_required(*FINANCE)
def index() -> tuple[str, int]:
    form = billing_form() if current_user.is_operator_finance else None
    return render_dashboard(form)


def _transfer_or_404(transfer_id: int) -> Transfer:
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None:
        abort(404)
    return transfer


@bp.route("/transfers/<int:transfer_id>/reverse", methods=["GET", "POST"])
@role_required(Role.OPERATOR_FINANCE)
@writes
def reverse(transfer_id: int) -> Response | tuple[str, int] | str:
    _require_operator_finance()
    transfer = _transfer_or_404(transfer_id)
    reversal_id = reversals_of([transfer.id]).get(transfer.id)
    form = ReverseForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput), errors_flashed(Conflict):
            reversal = reverse_transfer(current_user, transfer.id, form.reason.data)
            flash(
                _(
                    "Buchung %(original)d storniert: Stornobuchung %(reversal)d im Monat %(period)s.",
                    original=transfer.id,
                    reversal=reversal.id,
                    period=reversal.period,
                ),
                "success",
            )
            return redirect(url_for("ledger.index"))
        if not form.errors and not form.form_errors:  # a Conflict (already reversed, …) was flashed
            return redirect(url_for("ledger.index"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "ledger/reverse.html",
        transfer=transfer,
        form=form,
        reversal_id=reversal_id,
        is_reversal=transfer.kind is TransferKind.REVERSAL,
        target_period=_reversal_period(transfer),
    ), status


def _reversal_period(transfer: Transfer) -> str:
    """The month a reversal of `transfer` goes into: its own while open, else the current month."""
    from marketplace.ledger.models import Period, PeriodStatus

    row = db.session.get(Period, transfer.period)
    closed = counts_as_closed(transfer.period, latest_closed_period())
    return transfer.period if not closed and (row is None or row.status is PeriodStatus.OPEN) else current_period()


# --- statements and exports -----------------------------------------------------------------------------


def statement_member(member_id: int) -> Member:
    """The member whose statement or export the user asks for; 404 if it may not see it."""
    member = db.session.get(Member, member_id)
    if member is None or not current_user.can_view_member_ledger(member_id):
        abort(404)
    return member


def period_or_404(period: str) -> str:
    try:
        parse_period(period)
    except ValueError:
        abort(404)
    return period


@bp.get("/exports/journal.csv")
@role_required(*FINANCE)
def journal_csv() -> Response:
    member_id = _member_filter()
    period = _period_arg()
    name = "journal" + (f"-{member_id}" if member_id else "") + (f"-{period}" if period else "") + ".csv"
    return exports.csv_response(exports.journal_csv(member_id, period), name)


@bp.get("/exports/gdpdu/<period>.zip")
@role_required(Role.OPERATOR_FINANCE)
def gdpdu(period: str) -> Response:
    _require_operator_finance()
    body = exports.gdpdu_zip(period_or_404(period))
    return Response(
        body,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="gdpdu-{period}.zip"'},
    )
