"""Settlement pages for finance staff: invoices (HTML and XRechnung download) and settlements."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.bookings.views import BOOKING_CHARGES
from marketplace.core.edge import errors_on, writes
from marketplace.core.errors import NotFound
from marketplace.core.forms import ActionForm
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.timeutil import month_label, parse_month
from marketplace.extensions import db
from marketplace.members.auth import role_required
from marketplace.members.models import Member, Role
from marketplace.settlement import sepa, xrechnung
from marketplace.settlement.charges import booking_charges
from marketplace.settlement.forms import settlement_form
from marketplace.settlement.models import Settlement
from marketplace.settlement.operations import approve_settlement, create_settlement, record_direct_payment
from marketplace.settlement.queries import (
    advice_for,
    advice_view,
    invoice_for,
    invoices_statement,
    may_see_advice,
    settlement_for,
    settlements_for,
)
from marketplace.settlement.receivables import receivables_of
from marketplace.settlement.references import invoice_trail, settlement_payments, settlement_trails

bp = Blueprint("settlement", __name__)

FINANCE = (Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)
#: Who reads invoices: finance staff, and read-only the buyers (received) and provider staff (issued).
INVOICE_READERS = (*FINANCE, Role.BUYER, Role.PROVIDER)


@bp.record_once
def _offer_booking_charges(state: BlueprintSetupState) -> None:
    """The booking page (bookings) shows the months charged and their invoices, which this area reads."""
    state.app.extensions[BOOKING_CHARGES] = booking_charges


def _period_arg() -> str | None:
    period = (request.args.get("period") or "").strip()
    if not period:
        return None
    try:
        return parse_month(period)
    except ValueError:
        return None


def _invoice_or_404(invoice_id: int):
    try:
        return invoice_for(current_user, invoice_id)
    except NotFound:
        abort(404)


@bp.get("/invoices")
@role_required(*INVOICE_READERS)
def invoices() -> str:
    period = _period_arg()
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 25)
    listing = paginate(invoices_statement(current_user, period), page, per_page)
    return render_template("settlement/invoices.html", invoices=listing, period=period or "")


@bp.get("/invoices/<int:invoice_id>")
@role_required(*INVOICE_READERS)
def invoice(invoice_id: int) -> str:
    document = _invoice_or_404(invoice_id)
    trail = invoice_trail(document, current_user)
    return render_template(
        "settlement/invoice.html",
        invoice=document,
        exemption=xrechnung.exemption(document),
        payment_note=xrechnung.payment_note(document),
        prepaid=document.prepaid_cents,  # e.g. a cost-sharing final invoice's advances (BT-113)
        trail=trail,
        # the statements stay finance's: a buyer reading its member's invoice gets no link to them
        statement_sides=[side for side in trail.sides if current_user.can_view_member_ledger(side.member.id)],
        may_see_advice=lambda member_id: may_see_advice(current_user, member_id),
    )


@bp.get("/invoices/<int:invoice_id>/xrechnung")
@role_required(*INVOICE_READERS)
def invoice_xml(invoice_id: int) -> Response:
    document = _invoice_or_404(invoice_id)
    return Response(
        xrechnung.render(document),
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{xrechnung.filename(document)}"'},
    )


@bp.get("/receivables")
@role_required(Role.PROVIDER, Role.MEMBER_FINANCE)
def receivables() -> str:
    """What the member's buyers were charged, by buyer and month, with the documents and how far they came."""
    items = receivables_of(current_user.member_id)
    return render_template(
        "settlement/receivables.html",
        items=items,
        open_cents=sum(r.gross_cents for r in items if r.open),
    )


def _settlement_or_404(settlement_id: int) -> Settlement:
    try:
        return settlement_for(current_user, settlement_id)
    except NotFound:
        abort(404)


@bp.get("/settlements")
@role_required(*FINANCE)
def settlements() -> str:
    form = settlement_form(request.args.get("period")) if current_user.is_operator_finance else None
    return render_template("settlement/settlements.html", settlements=settlements_for(current_user), form=form)


@bp.post("/settlements")
@role_required(Role.OPERATOR_FINANCE)
@writes
def create() -> Response | tuple[str, int]:
    form = settlement_form()
    if form.validate_on_submit():
        with errors_on(form):
            settlement = create_settlement(current_user, form.period.data)
            flash(
                _(
                    "Verrechnung %(period)s angelegt; sie muss von einer zweiten Person freigegeben werden.",
                    period=month_label(settlement.period),
                ),
                "success",
            )
            return redirect(url_for("settlement.show", settlement_id=settlement.id))
    return render_template("settlement/settlements.html", settlements=settlements_for(current_user), form=form), 422


@bp.post("/settlements/<int:settlement_id>/approve")
@role_required(Role.OPERATOR_FINANCE)
@writes
def approve(settlement_id: int) -> Response:
    settlement = _settlement_or_404(settlement_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    approve_settlement(current_user, settlement)
    flash(_("Verrechnung %(period)s freigegeben.", period=month_label(settlement.period)), "success")
    return redirect(url_for("settlement.show", settlement_id=settlement.id))


@bp.get("/settlements/<int:settlement_id>/advices/<int:member_id>")
@login_required
def advice(settlement_id: int, member_id: int) -> str:
    """A member's payment advice, printable: for its own finance staff and operator finance (404 for others)."""
    try:
        found = advice_for(current_user, settlement_id, member_id)
    except NotFound:
        abort(404)
    view = advice_view(found)
    payments = [p for p in settlement_payments([found.settlement]) if p.concerns(member_id)]
    trail = settlement_trails(found.settlement, {member_id: view.lines}, payments).get(member_id)
    return render_template("settlement/advice.html", view=view, settlement=found.settlement, trail=trail)


@bp.get("/settlements/<int:settlement_id>/sepa/<int:member_id>.xml")
@role_required(*FINANCE)
def sepa_file(settlement_id: int, member_id: int) -> Response | tuple[str, int]:
    settlement = _settlement_or_404(settlement_id)
    if not (current_user.is_operator_finance or current_user.member_id == member_id):
        abort(404)
    payer = db.session.get(Member, member_id)
    if payer is None:
        abort(404)
    problem = sepa.refusal(settlement, payer)
    if isinstance(problem, NotFound):
        abort(404)
    if problem is not None:  # a file that would pay a second time: the reason, and no file
        return render_template("errors/error.html", status=problem.status, message=problem.detail), problem.status
    xml, name = sepa.credit_transfer_file(settlement, member_id)
    return Response(xml, mimetype="application/xml", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/settlements/<int:settlement_id>/instructions/<int:instruction_id>/direct")
@role_required(Role.OPERATOR_FINANCE)
@writes
def direct_payment(settlement_id: int, instruction_id: int) -> Response:
    settlement = _settlement_or_404(settlement_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    instruction = record_direct_payment(current_user, settlement, instruction_id)
    flash(
        _(
            "Direktzahlung von %(debtor)s an %(creditor)s gebucht.",
            debtor=instruction.debtor.name,
            creditor=instruction.creditor.name,
        ),
        "success",
    )
    return redirect(url_for("settlement.show", settlement_id=settlement_id))
