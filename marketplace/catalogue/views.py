"""The catalogue pages: browse and search, a service's page, and the provider's own offers."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.bookings.forms import BookingRequestForm
from marketplace.catalogue.forms import ServiceForm
from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service, update_service
from marketplace.catalogue.queries import catalogue_statement, categories, own_services_statement, service_for
from marketplace.core.auth import role_required
from marketplace.core.errors import InvalidInput
from marketplace.core.forms import apply_domain_errors
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.extensions import db
from marketplace.members.models import Role

bp = Blueprint("catalogue", __name__, url_prefix="/services")


def _category_choices(form: ServiceForm) -> None:
    lang = str(get_locale())
    form.category.choices = [("", _("Bitte wählen"))] + [
        (c.slug, c.name_en if lang == "en" else c.name_de) for c in categories()
    ]


def _input_from(form: ServiceForm) -> ServiceInput:
    return ServiceInput(
        title=form.title.data,
        description=form.description.data or "",
        category=form.category.data,
        unit=Unit(form.unit.data),
        unit_price=form.unit_price.data,
        vat_category=VatCategory(form.vat_category.data),
        capacity=form.capacity.data,
        capacity_set=True,
        status=ServiceStatus(form.status.data),
    )


@bp.get("")
@login_required
def index() -> str:
    q = (request.args.get("q") or "").strip()[:200]
    category = request.args.get("category") or None
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    result = paginate(catalogue_statement(q=q, category=category), page, per_page)
    return render_template("catalogue/index.html", page=result, q=q, category=category, categories=categories())


@bp.get("/mine")
@role_required(Role.PROVIDER)
def mine() -> str:
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    result = paginate(own_services_statement(current_user.member_id), page, per_page)
    return render_template("catalogue/mine.html", page=result)


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
def new() -> Response | str:
    form = ServiceForm()
    _category_choices(form)
    if form.validate_on_submit():
        try:
            service = create_service(current_user, _input_from(form))
        except InvalidInput as error:
            db.session.rollback()
            apply_domain_errors(form, error)
        else:
            db.session.commit()
            flash(_("Die Leistung „%(title)s“ ist angelegt.", title=service.title), "success")
            return redirect(url_for("catalogue.show", service_id=service.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("catalogue/form.html", form=form, service=None), status


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
def edit(service_id: int) -> Response | str:
    service = service_for(current_user, service_id)
    if not service.can_edit(current_user):
        return render_template("errors/error.html", status=404, message=_("Diese Seite gibt es nicht.")), 404
    form = ServiceForm(obj=service) if request.method == "GET" else ServiceForm()
    _category_choices(form)
    if request.method == "GET":
        from marketplace.core.money import from_cents

        form.category.data = service.category.slug
        form.unit.data = service.unit.value
        form.vat_category.data = service.vat_category.value
        form.status.data = service.status.value
        form.unit_price.data = from_cents(service.unit_price_cents)
    if form.validate_on_submit():
        try:
            update_service(current_user, service, _input_from(form))
        except InvalidInput as error:
            db.session.rollback()
            apply_domain_errors(form, error)
        else:
            db.session.commit()
            flash(_("Die Änderungen sind gespeichert."), "success")
            return redirect(url_for("catalogue.show", service_id=service.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("catalogue/form.html", form=form, service=service), status


@bp.get("/<int:service_id>")
@login_required
def show(service_id: int) -> str:
    service = service_for(current_user, service_id)
    form = BookingRequestForm() if service.can_book(current_user) else None
    return render_template("catalogue/show.html", service=service, form=form)
