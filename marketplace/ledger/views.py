"""Finance pages: balances, the journal and the billing run."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from marketplace.core.auth import role_required
from marketplace.core.errors import InvalidInput
from marketplace.core.forms import apply_domain_errors
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.extensions import db
from marketplace.ledger.billing import run_billing
from marketplace.ledger.forms import BillingForm
from marketplace.ledger.operations import current_period
from marketplace.ledger.queries import journal_statement, member_balances
from marketplace.members.models import Role

bp = Blueprint("ledger", __name__, url_prefix="/ledger")


def _visible_member_id() -> int | None:
    """None (all members) for operator finance, the own member for member finance."""
    return None if current_user.is_operator_finance else current_user.member_id


@bp.get("")
@role_required(Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)
def index() -> str:
    member_id = _visible_member_id()
    balances = member_balances(member_id)
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 25)
    journal = paginate(journal_statement(member_id), page, per_page, scalars=False)
    form = BillingForm(period=current_period()) if current_user.is_operator_finance else None
    return render_template(
        "ledger/index.html",
        balances=balances,
        total_cents=sum(b.balance_cents for b in balances),
        journal=journal,
        form=form,
    )


@bp.post("/billing")
@role_required(Role.OPERATOR_FINANCE)
def billing() -> Response | tuple[str, int]:
    if not current_user.is_operator_finance:
        abort(403)
    form = BillingForm()
    if form.validate_on_submit():
        try:
            run = run_billing(form.period.data, current_user)
        except InvalidInput as error:
            db.session.rollback()
            apply_domain_errors(form, error)
        else:
            db.session.commit()
            if run.transfers_created:
                flash(
                    _(
                        "Abrechnung %(period)s: %(count)d Buchungen über %(total)s erstellt.",
                        period=run.period,
                        count=run.transfers_created,
                        total=current_app.jinja_env.filters["eur"](run.total_cents),
                    ),
                    "success",
                )
            else:
                flash(_("Abrechnung %(period)s: nichts Neues abzurechnen.", period=run.period), "info")
            return redirect(url_for("ledger.index"))
    member_id = _visible_member_id()
    balances = member_balances(member_id)
    journal = paginate(journal_statement(member_id), 1, 25, scalars=False)
    return render_template(
        "ledger/index.html",
        balances=balances,
        total_cents=sum(b.balance_cents for b in balances),
        journal=journal,
        form=form,
    ), 422
