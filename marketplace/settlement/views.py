"""Settlement pages for finance staff: invoices (HTML and XRechnung download) and settlements."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user

from marketplace.core.auth import role_required
from marketplace.core.errors import NotFound
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.timeutil import parse_period
from marketplace.members.models import Role
from marketplace.settlement import xrechnung
from marketplace.settlement.queries import invoice_for, invoices_statement

bp = Blueprint("settlement", __name__)

FINANCE = (Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE)


def _period_arg() -> str | None:
    period = (request.args.get("period") or "").strip()
    if not period:
        return None
    try:
        parse_period(period)
    except ValueError:
        return None
    return period


def _invoice_or_404(invoice_id: int):
    try:
        return invoice_for(current_user, invoice_id)
    except NotFound:
        abort(404)


@bp.get("/invoices")
@role_required(*FINANCE)
def invoices() -> str:
    period = _period_arg()
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 25)
    listing = paginate(invoices_statement(current_user, period), page, per_page)
    return render_template("settlement/invoices.html", invoices=listing, period=period or "")


@bp.get("/invoices/<int:invoice_id>")
@role_required(*FINANCE)
def invoice(invoice_id: int) -> str:
    document = _invoice_or_404(invoice_id)
    return render_template("settlement/invoice.html", invoice=document, exemption=xrechnung.exemption(document))


@bp.get("/invoices/<int:invoice_id>/xrechnung")
@role_required(*FINANCE)
def invoice_xml(invoice_id: int) -> Response:
    document = _invoice_or_404(invoice_id)
    return Response(
        xrechnung.render(document),
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{xrechnung.filename(document)}"'},
    )
