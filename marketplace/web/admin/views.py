"""Administration pages: members (operator), users and roles (member admins), the audit trail."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.admission import admit_member
from marketplace.core.edge import errors_flashed, errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.forms import ActionForm
from marketplace.core.pagination import clamp_page_args, paginate
from marketplace.core.validators import parse_query_int
from marketplace.extensions import db
from marketplace.members.models import Member, MemberKind, Role, User
from marketplace.members.operations import (
    MEMBER_DATA_FIELDS,
    assignable_roles,
    invite_user,
    set_member_active,
    set_user_active,
    set_user_roles,
    update_member_data,
)
from marketplace.web.admin.audit_view import ACTION_LABELS, audit_row
from marketplace.web.admin.blueprint import bp
from marketplace.web.admin.forms import KIND_LABELS, ROLE_LABELS, InviteForm, MemberDataForm, MemberForm, RolesForm
from marketplace.web.admin.queries import audit_statement, members_statement, users_statement


def _require_admin() -> None:
    if not (current_user.is_operator_admin or current_user.has_role(Role.MEMBER_ADMIN)):
        abort(403)


def _member_or_404(member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or not current_user.can_manage_users_of(member.id):
        abort(404)
    return member


def _role_choices(form: Any, member: Member) -> None:
    form.roles.choices = [(role.value, ROLE_LABELS[role]) for role in assignable_roles(member)]


@bp.get("")
@login_required
def index() -> Response:
    _require_admin()
    if current_user.is_operator_admin:
        return redirect(url_for("admin.members"))
    return redirect(url_for("admin.users", member_id=current_user.member_id))


@bp.route("/members", methods=["GET", "POST"])
@login_required
@writes
def members() -> Response | tuple[str, int]:
    if not current_user.is_operator_admin:
        abort(403)
    form = MemberForm()
    if form.validate_on_submit():
        with errors_on(form):
            member = admit_member(
                current_user, name=form.name.data, kind=MemberKind(form.kind.data), **_member_data(form)
            )
            if form.admin_email.data:
                invite_user(
                    current_user,
                    member,
                    email=form.admin_email.data,
                    name=form.admin_name.data or form.admin_email.data,
                    roles=[Role.MEMBER_ADMIN],
                )
            flash(_("„%(name)s“ ist aufgenommen.", name=member.name), "success")
            return redirect(url_for("admin.members"))
    rows = list(db.session.scalars(members_statement()))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/members.html", members=rows, form=form, action_form=ActionForm(), kind_labels=KIND_LABELS
    ), status


def _member_data(form: MemberDataForm) -> dict[str, str | None]:
    return {name: getattr(form, name).data for name in MEMBER_DATA_FIELDS}


@bp.route("/members/<int:member_id>/data", methods=["GET", "POST"])
@login_required
@writes
def member_data(member_id: int) -> Response | tuple[str, int]:
    """The master data invoices need: the operator's admins for every member, a member admin for its own."""
    member = db.session.get(Member, member_id)
    if member is None or not current_user.can_edit_member_data(member.id):
        abort(404)
    form = MemberDataForm(obj=member)
    if form.validate_on_submit():
        with errors_on(form):
            update_member_data(current_user, member, **_member_data(form))
            flash(_("Die Stammdaten von „%(name)s“ sind gespeichert.", name=member.name), "success")
            return redirect(url_for("admin.member_data", member_id=member.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/member_data.html", member=member, form=form), status


@bp.post("/members/<int:member_id>/<any(suspend, admit):action>")
@login_required
@writes
def member_status(member_id: int, action: str) -> Response:
    if not current_user.is_operator_admin:
        abort(403)
    member = db.session.get(Member, member_id)
    if member is None:
        abort(404)
    if ActionForm().validate_on_submit():
        set_member_active(current_user, member, action == "admit")
        message = (
            _("„%(name)s“ ist gesperrt.", name=member.name)
            if action == "suspend"
            else _("„%(name)s“ ist wieder aktiv.", name=member.name)
        )
        flash(message, "info")
    return redirect(url_for("admin.members"))


@bp.route("/members/<int:member_id>/users", methods=["GET", "POST"])
@login_required
@writes
def users(member_id: int) -> Response | tuple[str, int]:
    _require_admin()
    member = _member_or_404(member_id)
    form = InviteForm()
    _role_choices(form, member)
    if form.validate_on_submit():
        try:
            with errors_on(form, InvalidInput):
                user = invite_user(
                    current_user, member, email=form.email.data, name=form.name.data, roles=form.roles.data or []
                )
                flash(_("Die Einladung an %(email)s ist unterwegs.", email=user.email), "success")
                return redirect(url_for("admin.users", member_id=member.id))
        except Conflict as error:  # the address is taken: shown at the e-mail field, not at the top
            db.session.rollback()
            form.email.errors = [*form.email.errors, error.detail]  # type: ignore[misc]
    people = list(db.session.scalars(users_statement(member.id)))
    roles_forms = {}
    for person in people:
        roles_form = RolesForm(prefix=f"u{person.id}", formdata=None, roles=[r.value for r in person.roles])
        _role_choices(roles_form, member)
        roles_forms[person.id] = roles_form
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/users.html",
        member=member,
        people=people,
        form=form,
        roles_forms=roles_forms,
        action_form=ActionForm(),
    ), status


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not current_user.can_manage_users_of(user.member_id):
        abort(404)
    return user


@bp.post("/users/<int:user_id>/roles")
@login_required
@writes
def user_roles(user_id: int) -> Response:
    _require_admin()
    user = _user_or_404(user_id)
    form = RolesForm(prefix=f"u{user.id}")
    _role_choices(form, user.member)
    if form.validate_on_submit():
        with errors_flashed(InvalidInput):
            set_user_roles(current_user, user, [Role(r) for r in form.roles.data or []])
            flash(_("Die Rollen von %(name)s sind gespeichert.", name=user.name), "success")
    else:
        flash(_("Bitte nur angebotene Rollen wählen."), "danger")
    return redirect(url_for("admin.users", member_id=user.member_id))


@bp.post("/users/<int:user_id>/<any(deactivate, activate):action>")
@login_required
@writes
def user_status(user_id: int, action: str) -> Response:
    _require_admin()
    user = _user_or_404(user_id)
    if ActionForm().validate_on_submit():
        set_user_active(current_user, user, action == "activate")
        flash(_("Der Zugang von %(name)s ist geändert.", name=user.name), "info")
    return redirect(url_for("admin.users", member_id=user.member_id))


@bp.get("/audit")
@login_required
def audit() -> str:
    _require_admin()
    member_arg = request.args.get("member_id")
    member_id = parse_query_int(member_arg) if current_user.is_operator_admin else current_user.member_id
    if not current_user.can_read_audit_of(member_id) and not (member_id is None and current_user.is_operator_admin):
        abort(404)
    action = (request.args.get("action") or "").strip()[:60] or None
    page, per_page = clamp_page_args(
        request.args.get("page"), request.args.get("per_page"), current_app.config["PER_PAGE"]
    )
    result = paginate(audit_statement(member_id, action), page, per_page, scalars=False)
    members = list(db.session.scalars(members_statement())) if current_user.is_operator_admin else []
    lang = str(get_locale())
    rows = [(audit_row(event, lang), actor) for event, actor in result.items]
    actions = sorted(((key, str(label)) for key, label in ACTION_LABELS.items()), key=lambda pair: pair[1])
    return render_template(
        "admin/audit.html",
        page=result,
        rows=rows,
        member_id=member_id,
        action=action or "",
        actions=actions,
        members=members,
    )
