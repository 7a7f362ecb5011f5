"""The catalogue pages: browse and search, a service's page, and the provider's own offers."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response

from marketplace.catalogue.categories import offered_categories
from marketplace.catalogue.forms import STATUS_LABELS, TAX_REASON_LABELS, DocumentForm, ServiceForm, StatusForm
from marketplace.catalogue.models import Service, ServiceDocument, ServiceStatus, TaxReason, Unit, VatCategory
from marketplace.catalogue.operations import (
    MAX_DOCUMENT_BYTES,
    MAX_UNIT_PRICE,
    ServiceInput,
    add_document,
    create_service,
    set_service_status,
    update_service,
)
from marketplace.catalogue.queries import (
    PRICE_BANDS,
    SORTS,
    CatalogueFilters,
    FacetValue,
    catalogue_facets,
    catalogue_page,
    catalogue_statement,
    categories,
    own_services_statement,
    price_history,
    rendered_cache,
    service_for,
)
from marketplace.core.edge import errors_flashed, errors_on, writes
from marketplace.core.errors import InvalidInput
from marketplace.core.money import AmountError, from_cents, parse_amount, parse_form_decimal, to_cents
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.readonly import reads_only
from marketplace.core.validators import parse_query_int
from marketplace.extensions import db
from marketplace.members.auth import role_required
from marketplace.members.models import Role

bp = Blueprint("catalogue", __name__, url_prefix="/services")


@bp.app_context_processor
def catalogue_labels() -> dict[str, object]:
    return {"tax_reason_labels": TAX_REASON_LABELS}


def _category_choices(form: ServiceForm, service: Service | None = None) -> None:
    """The categories on offer; a retired one only for the service that already carries it."""
    lang = str(get_locale())
    choices = [("", _("Bitte wählen"))]
    for c in offered_categories(keep_id=service.category_id if service else None):
        name = c.name_en if lang == "en" else c.name_de
        choices.append((c.slug, _("%(name)s (eingestellt)", name=name) if c.retired else name))
    form.category.choices = choices


def _warn_missing_tax_reasons(service: Service) -> None:
    """A draft may lack the § 2b reasons (publishing it needs them): remind the provider."""
    if service.vat_category is VatCategory.NOT_TAXABLE and not service.tax_reason_list:
        flash(
            _(
                "Bitte ergänzen Sie die Begründung, warum die Leistung nach § 2b UStG nicht steuerbar ist; "
                "veröffentlichen lässt sie sich erst mit ihr."
            ),
            "warning",
        )


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
        minimum_term_months=form.minimum_term_months.data or 0,
        notice_period_days=form.notice_period_days.data or 0,
        sla_availability=form.sla_availability.data,
        sla_support_hours=form.sla_support_hours.data or "",
        sla_response_hours=form.sla_response_hours.data,
        sla_set=True,
        contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "",
        contact_phone=form.contact_phone.data or "",
        tax_legal_basis=form.tax_legal_basis.data or "",
        tax_reasons=[TaxReason(r) for r in form.tax_reasons.data or []],
        tax_reasoning=form.tax_reasoning.data or "",
        vatex_code=form.vatex_code.data or "",
        price_valid_from=form.price_valid_from.data,
    )


def _filters_from_args() -> tuple[CatalogueFilters, list[str]]:
    """The catalogue filters from the query string; unusable values are dropped with a notice."""
    notices: list[str] = []
    args = request.args

    def amount(name: str, label: str) -> int | None:
        text = (args.get(name) or "").strip()
        if not text:
            return None
        try:
            value = parse_amount(text)
        except AmountError:
            notices.append(_("%(label)s ist kein gültiger Betrag und wurde nicht berücksichtigt.", label=label))
            return None
        if value < 0 or value > MAX_UNIT_PRICE:
            notices.append(_("%(label)s muss zwischen 0 und 10.000.000 € liegen.", label=label))
            return None
        return to_cents(value)

    provider_id = parse_query_int(args.get("provider"))
    unit = Unit(args["unit"]) if args.get("unit") in {u.value for u in Unit} else None
    sla_min = None
    if args.get("sla"):
        try:
            sla_min = parse_form_decimal(args["sla"], 2)
        except AmountError:
            sla_min = None
        if sla_min is not None and not (0 <= sla_min <= 100):
            notices.append(_("Die Verfügbarkeit ist ein Prozentwert zwischen 0 und 100."))
            sla_min = None
    filters = CatalogueFilters(
        q=(args.get("q") or "").strip()[:200] or None,
        category=args.get("category") or None,
        provider_id=provider_id,
        unit=unit,
        price_min_cents=amount("price_min", _("Der Mindestpreis")),
        price_max_cents=amount("price_max", _("Der Höchstpreis")),
        sla_min=sla_min,
    )
    return filters, notices


@bp.get("")
@reads_only
@login_required
def index() -> str:
    # The form and results depend only on the query string, the language and the catalogue: rendered once
    # per catalogue generation and reused for every user (the page around them is rendered per user).
    lang = str(get_locale())
    key = ("search-page", lang, tuple(sorted(request.args.items(multi=True))))
    search_html = rendered_cache.get(key, lambda: Markup(_render_search(lang)))  # noqa: S704 - autoescaped template output
    return render_template("catalogue/index.html", search_html=search_html)


def _render_search(lang: str) -> str:
    filters, notices = _filters_from_args()
    sort = request.args.get("sort") if request.args.get("sort") in SORTS else None
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    statement = catalogue_statement(
        q=filters.q,
        category=filters.category,
        provider_id=filters.provider_id,
        unit=filters.unit,
        price_min_cents=filters.price_min_cents,
        price_max_cents=filters.price_max_cents,
        sla_min=filters.sla_min,
        sort=sort,
    )
    facets = catalogue_facets(filters, lang)
    return render_template(
        "catalogue/_search.html",
        page=catalogue_page(statement, page, per_page),
        q=filters.q or "",
        category=filters.category,
        filters=filters,
        facets=facets,
        price_bands=_price_band_links(facets["price"], filters),
        sort=sort or ("relevance" if filters.q else "newest"),
        notices=notices,
        filtered=any(
            request.args.get(name) for name in ("q", "category", "provider", "unit", "price_min", "price_max", "sla")
        ),
        categories=categories,  # called by the template only when needed
    )


def _price_band_links(counts: list[FacetValue], filters: CatalogueFilters) -> list[dict[str, object]]:
    """Each price band with hits as a link that sets the from/to filter (other filters kept, page 1)."""

    def amount(cents: int) -> str:
        euros, rest = divmod(cents, 100)
        return f"{euros},{rest:02d}"

    args = {key: value for key, value in request.args.items() if key not in ("page", "price_min", "price_max")}
    links = []
    for facet in counts:
        lower, upper = PRICE_BANDS[int(facet.value)]
        bounds = {"price_min": amount(lower)} if lower else {}
        if upper is not None:
            bounds["price_max"] = amount(upper)
        links.append(
            {
                "lower": lower,
                "upper": upper,
                "count": facet.count,
                "url": url_for("catalogue.index", **args, **bounds),
                "current": (filters.price_min_cents or 0, filters.price_max_cents) == (lower, upper),
            }
        )
    return links


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
@writes
def new() -> Response | str:
    form = ServiceForm()
    _category_choices(form)
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            service = create_service(current_user, _input_from(form), require_tax_reasons=True)
            flash(_("Die Leistung „%(title)s“ ist angelegt.", title=service.title), "success")
            _warn_missing_tax_reasons(service)
            return redirect(url_for("catalogue.show", service_id=service.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("catalogue/form.html", form=form, service=None), status


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
@writes
def edit(service_id: int) -> Response | str:
    service = service_for(current_user, service_id)
    if not service.can_edit(current_user):
        return render_template("errors/error.html", status=404, message=_("Diese Seite gibt es nicht.")), 404
    form = ServiceForm(obj=service) if request.method == "GET" else ServiceForm()
    _category_choices(form, service)
    if request.method == "GET":
        form.category.data = service.category.slug
        form.unit.data = service.unit.value
        form.vat_category.data = service.vat_category.value
        form.status.data = service.status.value
        form.unit_price.data = from_cents(service.unit_price_cents)
        form.tax_reasons.data = [r.value for r in service.tax_reason_list]
        form.vatex_code.data = service.vatex_code or ""
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            update_service(current_user, service, _input_from(form), require_tax_reasons=True)
            flash(_("Die Änderungen sind gespeichert."), "success")
            _warn_missing_tax_reasons(service)
            return redirect(url_for("catalogue.show", service_id=service.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("catalogue/form.html", form=form, service=service), status


#: Where the bookings area puts the form a buyer requests a service with (`app.extensions`): the page is the
#: catalogue's, the request is the bookings' (which build on the catalogue, not the other way round).
REQUEST_FORM = "catalogue.request_form"


def render_service(service: Service, form: FlaskForm | None = None, **extra: object) -> str:
    """The service page; also used when a booking request or an upload on it fails validation."""
    if form is None and service.can_book(current_user):
        request_form = current_app.extensions.get(REQUEST_FORM)
        form = request_form() if request_form is not None else None
    editable = service.can_edit(current_user)
    context: dict[str, object] = {
        "service": service,
        "form": form,
        "prices": price_history(service.id),
        "status_form": StatusForm(status=service.status.value) if editable else None,
        "document_form": DocumentForm() if editable else None,
    }
    context.update(extra)
    return render_template("catalogue/show.html", **context)


@bp.get("/<int:service_id>")
@login_required
def show(service_id: int) -> str:
    return render_service(service_for(current_user, service_id))


@bp.post("/<int:service_id>/documents")
@role_required(Role.PROVIDER)
@writes
def upload_document(service_id: int) -> Response | tuple[str, int]:
    service = service_for(current_user, service_id)
    if not service.can_edit(current_user):
        abort(404)
    form = DocumentForm()
    if form.validate_on_submit():
        upload = request.files.get("file")
        content = upload.stream.read(MAX_DOCUMENT_BYTES + 1) if upload is not None else b""
        with errors_on(form, InvalidInput):
            add_document(current_user, service, form.title.data, upload.filename if upload else "", content)
            flash(_("Die Unterlage ist hochgeladen."), "success")
            return redirect(url_for("catalogue.show", service_id=service.id))
    return render_service(service, document_form=form), 422


@bp.get("/<int:service_id>/documents/<int:document_id>")
@login_required
def document(service_id: int, document_id: int) -> Response:
    service = service_for(current_user, service_id)
    found = db.session.get(ServiceDocument, document_id)
    if found is None or found.service_id != service.id:
        abort(404)
    response = Response(found.content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/<int:service_id>/status")
@role_required(Role.PROVIDER)
@writes
def change_status(service_id: int) -> Response:
    service = service_for(current_user, service_id)
    if not service.can_edit(current_user):
        abort(404)
    form = StatusForm()
    if form.validate_on_submit():
        with errors_flashed(InvalidInput):
            set_service_status(current_user, service, ServiceStatus(form.status.data))
            flash(_("Der Status ist jetzt „%(status)s“.", status=STATUS_LABELS[service.status]), "success")
    return redirect(url_for("catalogue.show", service_id=service.id))
