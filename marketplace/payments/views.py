"""The settlement page with how it is paid (its SEPA direct debits) and the operator's collect button.

Both register on the settlement blueprint (addresses and endpoints `settlement.show`, `settlement.collect`
stay those of the settlement pages): payments builds on settlement, so only a module here knows both. For
the same reason payments offers settlement the ledger transfers of the collected debits
(`settlement.references.DEBIT_TRANSFERS`), so statements, invoices and advices name those payments too.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import current_user
from werkzeug.wrappers import Response

from marketplace.core.edge import writes
from marketplace.core.forms import ActionForm
from marketplace.members.auth import role_required
from marketplace.members.models import Role
from marketplace.payments.collection import collect_settlement
from marketplace.payments.queries import debit_transfers, debits_seen_by
from marketplace.settlement.queries import settlement_for, view_of
from marketplace.settlement.references import DEBIT_TRANSFERS, settlement_payments, settlement_trails
from marketplace.settlement.views import bp


@bp.record_once
def _offer_debit_transfers(state: BlueprintSetupState) -> None:
    state.app.extensions[DEBIT_TRANSFERS] = debit_transfers


@bp.get("/settlements/<int:settlement_id>")
@role_required(Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)
def show(settlement_id: int) -> str:
    settlement = settlement_for(current_user, settlement_id)
    view = view_of(settlement, current_user)
    payments = [
        p
        for p in settlement_payments([settlement])
        if current_user.is_operator_finance or p.concerns(current_user.member_id)
    ]
    return render_template(
        "settlement/settlement.html",
        settlement=settlement,
        view=view,
        debits=debits_seen_by(settlement, current_user),
        payments=payments,
        trails=settlement_trails(settlement, {a.advice.member_id: a.lines for a in view.advices}, payments),
        action_form=ActionForm(),
    )


@bp.post("/settlements/<int:settlement_id>/collect")
@role_required(Role.OPERATOR_FINANCE)
@writes
def collect(settlement_id: int) -> Response:
    settlement = settlement_for(current_user, settlement_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    # collect_settlement commits once in the middle on purpose (each debit's Idempotency-Key is durable before
    # Stripe hears of it); @writes commits the outcome of the requests after it
    outcome = collect_settlement(current_user, settlement)
    flash(outcome.message(), "success" if outcome.ok else "warning")
    return redirect(url_for("settlement.show", settlement_id=settlement.id))
