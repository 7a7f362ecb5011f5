"""The operator's collect button on the settlement page: SEPA direct debits through the Stripe API.

It registers on the settlement blueprint (the address and endpoint `settlement.collect` stay those of the
settlement page it belongs to); payments builds on settlement, so the page module does not import it.
"""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marketplace.core.edge import writes
from marketplace.core.forms import ActionForm
from marketplace.members.auth import role_required
from marketplace.members.models import Role
from marketplace.payments.collection import collect_settlement
from marketplace.settlement.queries import settlement_for
from marketplace.settlement.views import bp


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
