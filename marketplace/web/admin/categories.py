"""The operator's pages for service categories: list with usage, create, rename, reorder, retire, delete if unused.

Registered on the admin blueprint (`marketplace.web.admin` imports both page modules). Every page is for the
operator's admins only; the writes are the operations of marketplace/catalogue/categories.py.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.catalogue.categories import (
    CategoryInUse,
    category_overview,
    create_category,
    delete_category,
    move_category,
    reactivate_category,
    rename_category,
    retire_category,
    services_using,
)
from marketplace.catalogue.models import Category
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.forms import ActionForm, apply_domain_errors
from marketplace.extensions import db
from marketplace.web.admin.blueprint import bp
from marketplace.web.admin.forms import CategoryForm


def _require_operator() -> None:
    if not current_user.is_operator_admin:
        abort(403)


def _category_or_404(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    return category


def _name(category: Category) -> str:
    return category.name_en if str(get_locale()) == "en" else category.name_de


def _in_use_message(category: Category, count: int) -> str:
    return ngettext(
        "„%(name)s“ wird von %(num)d Leistung verwendet und kann deshalb nicht gelöscht werden. Stellen Sie "
        "die Kategorie stattdessen ein: Sie bleibt an der Leistung, wird aber nicht mehr angeboten.",
        "„%(name)s“ wird von %(num)d Leistungen verwendet und kann deshalb nicht gelöscht werden. Stellen Sie "
        "die Kategorie stattdessen ein: Sie bleibt an diesen Leistungen, wird aber nicht mehr angeboten.",
        count,
        name=_name(category),
    )


def _show_errors(form: CategoryForm, error: InvalidInput | Conflict) -> None:
    db.session.rollback()
    if isinstance(error, InvalidInput):
        apply_domain_errors(form, error)
    else:
        form.form_errors.append(error.detail)


@bp.route("/categories", methods=["GET", "POST"])
@login_required
def categories() -> Response | tuple[str, int]:
    _require_operator()
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            category = create_category(current_user, form.name_de.data, form.name_en.data)
        except (InvalidInput, Conflict) as error:
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(_("Die Kategorie „%(name)s“ ist angelegt.", name=_name(category)), "success")
            return redirect(url_for("admin.categories"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/categories.html", rows=category_overview(), form=form, action_form=ActionForm(), name=_name
    ), status


@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@login_required
def category_edit(category_id: int) -> Response | tuple[str, int]:
    _require_operator()
    category = _category_or_404(category_id)
    form = CategoryForm(obj=category) if request.method == "GET" else CategoryForm()
    if form.validate_on_submit():
        try:
            rename_category(current_user, category, form.name_de.data, form.name_en.data)
        except (InvalidInput, Conflict) as error:
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(_("Die Kategorie „%(name)s“ ist gespeichert.", name=_name(category)), "success")
            return redirect(url_for("admin.categories"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/category_edit.html", category=category, form=form), status


@bp.post("/categories/<int:category_id>/<any(up, down):direction>")
@login_required
def category_move(category_id: int, direction: str) -> Response:
    _require_operator()
    category = _category_or_404(category_id)
    if ActionForm().validate_on_submit():
        try:
            move_category(current_user, category, -1 if direction == "up" else 1)
        except Conflict as error:
            db.session.rollback()
            flash(error.detail, "danger")
        else:
            db.session.commit()
            flash(_("„%(name)s“ ist verschoben.", name=_name(category)), "info")
    return redirect(url_for("admin.categories"))


@bp.post("/categories/<int:category_id>/<any(retire, reactivate):action>")
@login_required
def category_status(category_id: int, action: str) -> Response:
    _require_operator()
    category = _category_or_404(category_id)
    if ActionForm().validate_on_submit():
        try:
            if action == "retire":
                retire_category(current_user, category)
            else:
                reactivate_category(current_user, category)
        except Conflict as error:
            db.session.rollback()
            flash(error.detail, "danger")
        else:
            db.session.commit()
            message = (
                _("„%(name)s“ ist eingestellt und wird für neue Leistungen nicht mehr angeboten.", name=_name(category))
                if action == "retire"
                else _("„%(name)s“ wird wieder angeboten.", name=_name(category))
            )
            flash(message, "info")
    return redirect(url_for("admin.categories"))


@bp.route("/categories/<int:category_id>/delete", methods=["GET", "POST"])
@login_required
def category_delete(category_id: int) -> Response | tuple[str, int]:
    """A confirmation page first; a category that services use is refused with their number."""
    _require_operator()
    category = _category_or_404(category_id)
    form = ActionForm()
    if form.validate_on_submit():
        name = _name(category)
        try:
            delete_category(current_user, category)
        except CategoryInUse as error:
            db.session.rollback()
            flash(_in_use_message(category, error.count), "danger")
        except Conflict as error:
            db.session.rollback()
            flash(error.detail, "danger")
        else:
            db.session.commit()
            flash(_("Die Kategorie „%(name)s“ ist gelöscht.", name=name), "success")
        return redirect(url_for("admin.categories"))
    count = services_using(category)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/category_delete.html",
        category=category,
        form=form,
        in_use=_in_use_message(category, count) if count else None,
        name=_name(category),
    ), status
