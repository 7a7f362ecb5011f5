"""Pages of correction cases (the operator decides, the parties state) and of the buyer's release of
invoices (one by one, a whole month after looking at it, or an objection), plus the overdue releases."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from marketplace.bookings.models import UsageRecord
from marketplace.core.edge import errors_flashed, errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.core.money import to_cents
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.timeutil import month_label, parse_period, today
from marketplace.corrections.forms import (
    CorrectUsageForm,
    DisputeBilledForm,
    ObjectionForm,
    ReleaseForm,
    ReleaseMonthForm,
    ResolveForm,
    StatementForm,
)
from marketplace.corrections.models import CaseSource, CaseStatus, CorrectionCase
from marketplace.corrections.operations import (
    Decision,
    add_statement,
    correct_billed_usage,
    dispute_billed_usage,
    german_quantity,
    is_billed,
    object_to_invoice,
    resolve_case,
)
from marketplace.corrections.queries import (
    case_for,
    cases_of_invoice,
    cases_of_records,
    cases_statement,
    pending_of_month,
    pending_releases,
)
from marketplace.extensions import db
from marketplace.members.auth import role_required
from marketplace.members.models import Role
from marketplace.settlement.models import Invoice
from marketplace.settlement.queries import invoice_for
from marketplace.settlement.release import overdue_statement, release_invoice, release_invoices

bp = Blueprint("corrections", __name__)

PARTIES = (Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE, Role.BUYER, Role.PROVIDER)


@bp.app_template_global("correction_cases_of")
def _cases_of_invoice_for_templates(invoice_id: int) -> list[CorrectionCase]:
    """The invoice page shows the cases about the invoice (and the operator's note on a rejected one)."""
    return cases_of_invoice(invoice_id)


@bp.app_template_global("billed_usage")
def _billed_usage_for_templates(record: UsageRecord) -> dict[str, object]:
    """For the booking page: whether the record's month is billed, and its latest correction case."""
    billed = is_billed(record)
    return {"billed": billed, "case": cases_of_records([record.id]).get(record.id) if billed else None}


@bp.app_template_filter("case_quantity")
def _quantity_filter(value: object) -> str:
    """A quantity the German way (``12,5``; ``5.120``)."""
    return german_quantity(value) if value is not None else "–"  # type: ignore[arg-type]


def _case_or_404(case_id: int) -> CorrectionCase:
    try:
        return case_for(current_user, case_id)
    except NotFound:
        abort(404)


# --- cases --------------------------------------------------------------------------------------------


@bp.get("/corrections")
@role_required(*PARTIES)
def index() -> str:
    raw = request.args.get("status", "open")
    status = CaseStatus(raw) if raw in {s.value for s in CaseStatus} else None
    page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 25)
    listing = paginate(cases_statement(current_user, status), page, per_page)
    return render_template("corrections/index.html", cases=listing, status=status.value if status else "all")


def _render_case(case: CorrectionCase, status: int = 200, **forms: object) -> tuple[str, int]:
    statement = forms.get("statement_form") or (StatementForm() if case.can_state(current_user) else None)
    resolve = forms.get("resolve_form") or (ResolveForm() if case.can_resolve(current_user) else None)
    return render_template(
        "corrections/show.html",
        case=case,
        side=case.side_of(current_user),
        statement_form=statement,
        resolve_form=resolve,
        objection=case.source is CaseSource.OBJECTION,
    ), status


@bp.get("/corrections/<int:case_id>")
@role_required(*PARTIES)
def show(case_id: int) -> tuple[str, int]:
    return _render_case(_case_or_404(case_id))


@bp.post("/corrections/<int:case_id>/statement")
@role_required(*PARTIES)
@writes
def statement(case_id: int) -> Response | tuple[str, int]:
    case = _case_or_404(case_id)
    form = StatementForm()
    if form.validate_on_submit():
        with errors_on(form):
            add_statement(current_user, case.id, form.statement.data)
            flash(_("Ihre Stellungnahme ist gespeichert."), "success")
            return redirect(url_for("corrections.show", case_id=case.id))
    return _render_case(case, 422, statement_form=form)


@bp.post("/corrections/<int:case_id>/resolve")
@role_required(Role.OPERATOR_FINANCE)
@writes
def resolve(case_id: int) -> Response | tuple[str, int]:
    case = _case_or_404(case_id)
    form = ResolveForm()
    if form.validate_on_submit():
        amount = to_cents(form.amount.data) if form.amount.data is not None else None
        with errors_on(form):
            decided = resolve_case(
                current_user,
                case.id,
                Decision(form.decision.data, form.note.data, quantity=form.quantity.data, amount_cents=amount),
            )
            if decided.status is CaseStatus.CORRECTED:
                flash(_("Korrekturfall %(case)d berichtigt.", case=decided.id), "success")
            else:
                flash(_("Korrekturfall %(case)d zurückgewiesen.", case=decided.id), "success")
            return redirect(url_for("corrections.show", case_id=decided.id))
    db.session.refresh(case)
    return _render_case(case, 422, resolve_form=form)


# --- billed usage -------------------------------------------------------------------------------------


def _record_or_404(record_id: int) -> UsageRecord:
    record = db.session.get(UsageRecord, record_id)
    if record is None or not record.booking.is_party(current_user):
        abort(404)
    return record


@bp.route("/usage/<int:record_id>/dispute-billed", methods=["GET", "POST"])
@role_required(Role.BUYER, Role.MEMBER_FINANCE)
@writes
def dispute_billed(record_id: int) -> Response | tuple[str, int]:
    record = _record_or_404(record_id)
    if record.booking.buyer_id != current_user.member_id:
        abort(403)
    form = DisputeBilledForm()
    if form.validate_on_submit():
        with errors_on(form):
            case = dispute_billed_usage(current_user, record.id, form.reason.data)
            flash(_("Ihr Einspruch ist als Korrekturfall %(case)d erfasst.", case=case.id), "success")
            return redirect(url_for("corrections.show", case_id=case.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "corrections/usage.html", record=record, form=form, billed=is_billed(record), correcting=False
    ), status


@bp.route("/usage/<int:record_id>/correct", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
@writes
def correct_usage(record_id: int) -> Response | tuple[str, int]:
    record = _record_or_404(record_id)
    if record.booking.service.provider_id != current_user.member_id:
        abort(403)
    form = CorrectUsageForm()
    if form.validate_on_submit():
        with errors_on(form):
            case = correct_billed_usage(current_user, record.id, form.quantity.data, form.reason.data)
            flash(_("Ihre Korrektur ist als Korrekturfall %(case)d erfasst.", case=case.id), "success")
            return redirect(url_for("corrections.show", case_id=case.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "corrections/usage.html", record=record, form=form, billed=is_billed(record), correcting=True
    ), status


# --- releases -----------------------------------------------------------------------------------------


def _invoice_or_404(invoice_id: int) -> Invoice:
    try:
        return invoice_for(current_user, invoice_id)
    except NotFound:
        abort(404)


@bp.get("/releases")
@role_required(Role.MEMBER_FINANCE, Role.OPERATOR_FINANCE)
def releases() -> str:
    overdue = None
    if current_user.is_operator_finance:
        page, per_page = clamp_page_args(request.args.get("page"), request.args.get("per_page"), 50)
        overdue = paginate(overdue_statement(), page, per_page)
    months = pending_releases(current_user) if current_user.has_role(Role.MEMBER_FINANCE) else {}
    return render_template("corrections/releases.html", overdue=overdue, months=months, today=today())


def _period_or_404(period: str) -> str:
    try:
        parse_period(period)
    except ValueError:
        abort(404)
    return period


@bp.route("/releases/<period>", methods=["GET", "POST"])
@role_required(Role.MEMBER_FINANCE)
@writes
def release_month(period: str) -> Response | tuple[str, int]:
    period = _period_or_404(period)
    form = ReleaseMonthForm()
    if form.validate_on_submit():
        try:
            ids = [int(part) for part in (form.invoice_ids.data or "").split(",") if part.strip()]
        except ValueError:
            abort(400)
        with errors_on(form, InvalidInput, Conflict):
            released = release_invoices(current_user, period, ids)
            message = ngettext(
                "%(num)d Rechnung für %(period)s freigegeben.",
                "%(num)d Rechnungen für %(period)s freigegeben.",
                len(released),
                period=month_label(period),
            )
            flash(message, "success")
            return redirect(url_for("corrections.releases"))
    invoices = pending_of_month(current_user, period)
    form.invoice_ids.data = ",".join(str(invoice.id) for invoice in invoices)
    status = 422 if request.method == "POST" else 200
    return render_template("corrections/release_month.html", period=period, invoices=invoices, form=form), status


@bp.post("/invoices/<int:invoice_id>/release")
@role_required(Role.MEMBER_FINANCE)
@writes
def release(invoice_id: int) -> Response:
    invoice = _invoice_or_404(invoice_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        flash(form.confirm.errors[0] if form.confirm.errors else _("Bitte die Seite neu laden."), "danger")
        return redirect(url_for("settlement.invoice", invoice_id=invoice.id))
    with errors_flashed():
        release_invoice(current_user, invoice.id)
        flash(_("Rechnung %(number)s freigegeben: sachlich und rechnerisch richtig.", number=invoice.number), "success")
    return redirect(url_for("settlement.invoice", invoice_id=invoice.id))


@bp.route("/invoices/<int:invoice_id>/object", methods=["GET", "POST"])
@role_required(Role.MEMBER_FINANCE)
@writes
def object_invoice(invoice_id: int) -> Response | tuple[str, int]:
    invoice = _invoice_or_404(invoice_id)
    form = ObjectionForm()
    if form.validate_on_submit():
        with errors_on(form):
            case = object_to_invoice(current_user, invoice.id, form.reason.data)
            flash(
                _("Rechnung %(number)s beanstandet: Korrekturfall %(case)d.", number=invoice.number, case=case.id),
                "success",
            )
            return redirect(url_for("corrections.show", case_id=case.id))
    status = 422 if request.method == "POST" else 200
    return render_template("corrections/object.html", invoice=invoice, form=form), status
