"""Month-end pages: start a billing run, follow a large one as it runs, close a month, download a closed
month's DATEV Buchungsstapel.

They join the finance pages' blueprint (`ledger.views.bp`), so their addresses (``/ledger/billing``,
``/ledger/periods/<period>/close``, ``/ledger/exports/datev/<member>/<period>.csv``) and endpoint names stay
where people and templates know them, while the code that calls month-end lives above the ledger.
"""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marketplace.core.edge import errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.forms import apply_domain_errors
from marketplace.core.timeutil import month_label, parse_period, period_of, today
from marketplace.extensions import db
from marketplace.ledger.forms import billing_form
from marketplace.ledger.reports import period_overview
from marketplace.ledger.views import MONTH_NOTES, bp, render_dashboard
from marketplace.members.auth import role_required
from marketplace.members.models import Member, Role
from marketplace.monthend import jobs
from marketplace.monthend.billing import start_billing
from marketplace.monthend.close import close_period
from marketplace.monthend.datev import buchungsstapel
from marketplace.monthend.forms import CloseForm
from marketplace.monthend.models import BillingRun, RunStatus
from marketplace.monthend.outstanding import month_notes, outstanding

MONTH_NOTES.append(month_notes)  # the months table shows what each open month still needs


def _eur(cents: int) -> str:
    return current_app.jinja_env.filters["eur"](cents)


@bp.post("/billing")
@role_required(Role.OPERATOR_FINANCE)
def billing() -> Response | tuple[str, int]:
    if not current_user.is_operator_finance:
        abort(403)
    form = billing_form()
    if form.validate_on_submit():
        try:
            run = start_billing(current_user, form.period.data)
        except (InvalidInput, Conflict) as error:
            db.session.rollback()
            if isinstance(error, InvalidInput):
                apply_domain_errors(form, error)
            else:
                form.period.errors = [*form.period.errors, error.detail]  # type: ignore[misc]
        else:
            # committed here, not at the edge: a job starts from the committed run in its own transaction
            db.session.commit()
            if run.status is RunStatus.QUEUED:
                jobs.submit(run.id)
                flash(
                    _(
                        "Abrechnung %(period)s: %(count)d Buchungen; der Lauf arbeitet im Hintergrund.",
                        period=month_label(run.period),
                        count=run.planned,
                    ),
                    "info",
                )
                return redirect(url_for("ledger.billing_run", run_id=run.id))
            if run.transfers_created:
                flash(
                    _(
                        "Abrechnung %(period)s: %(count)d Buchungen über %(total)s erstellt.",
                        period=month_label(run.period),
                        count=run.transfers_created,
                        total=_eur(run.total_cents),
                    ),
                    "success",
                )
            else:
                flash(_("Abrechnung %(period)s: nichts Neues abzurechnen.", period=month_label(run.period)), "info")
            for item in run.skipped:  # what the run could not charge; the rest is booked
                flash(
                    _(
                        "Buchung %(booking)s nicht abgerechnet: %(reason)s",
                        booking=item["booking_id"],
                        reason=item["reason"],
                    ),
                    "warning",
                )
            if request.form.get("back") == "close":  # started from the close page: show what is left there
                return redirect(url_for("ledger.close", period=run.period))
            return redirect(url_for("ledger.index"))
    return render_dashboard(form, 422)


@bp.get("/billing-runs")
@role_required(Role.OPERATOR_FINANCE)
def billing_runs() -> str:
    if not current_user.is_operator_finance:
        abort(403)
    runs = db.session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(50)).all()
    return render_template("monthend/billing_runs.html", runs=runs, refresh=any(not r.is_finished for r in runs))


@bp.get("/billing-runs/<int:run_id>")
@role_required(Role.OPERATOR_FINANCE)
def billing_run(run_id: int) -> str:
    if not current_user.is_operator_finance:
        abort(403)
    run = db.session.get(BillingRun, run_id)
    if run is None:
        abort(404)
    return render_template("monthend/billing_run.html", run=run, refresh=not run.is_finished)


@bp.route("/periods/<period>/close", methods=["GET", "POST"])
@role_required(Role.OPERATOR_FINANCE)
@writes
def close(period: str) -> Response | tuple[str, int] | str:
    if not current_user.is_operator_finance:
        abort(403)
    try:
        parse_period(period)
    except ValueError:
        abort(404)
    form = CloseForm()
    if form.validate_on_submit():
        with errors_on(form):
            close_period(current_user, period, form.reason.data or "")
            flash(_("Der Monat %(period)s ist abgeschlossen.", period=month_label(period)), "success")
            return redirect(url_for("ledger.index"))
    row = next((p for p in period_overview(limit=1200) if p.period == period), None)
    items = outstanding(period) if row is not None and row.status.value == "open" else []
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "monthend/close.html",
            period=period,
            row=row,
            form=form,
            blocking=[item for item in items if not item.overridable],
            overridable=[item for item in items if item.overridable],
            current_period=period_of(today()),
        ),
        status,
    )


@bp.get("/exports/datev/<int:member_id>/<period>.csv")
@role_required(Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)
def datev(member_id: int, period: str) -> FlaskResponse:
    """The member's DATEV Buchungsstapel of a closed month (409 page for a month still open)."""
    member = db.session.get(Member, member_id)
    if member is None or not current_user.can_view_member_ledger(member_id):
        abort(404)
    try:
        parse_period(period)
    except ValueError:
        abort(404)
    body = buchungsstapel(member, period, current_app.config)
    return FlaskResponse(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="EXTF_Buchungsstapel_{member.id}_{period}.csv"'},
    )
