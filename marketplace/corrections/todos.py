"""To-do source of corrections (marketplace.core.todos): open correction cases, for the operator's finance
staff to decide and for each party's staff to state their view."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from marketplace.core.timeutil import month_label
from marketplace.core.todos import Todo
from marketplace.corrections.models import CaseStatus, CorrectionCase
from marketplace.extensions import db
from marketplace.members.models import Role, User


def correction_cases(user: User) -> list[Todo]:
    """Operator finance: every open case to decide. A party's staff: open cases still without its statement."""
    statement = select(CorrectionCase).where(CorrectionCase.status == CaseStatus.OPEN).order_by(CorrectionCase.id)
    if user.is_operator_finance:
        cases = list(db.session.scalars(statement))
        return [
            Todo(
                kind="correction.decide",
                title=_("Korrekturfall %(id)s (%(month)s)", id=c.id, month=month_label(c.period)),
                action=_("Entscheiden"),
                path=url_for("corrections.show", case_id=c.id),
                dated=c.opened_at.date(),
            )
            for c in cases
        ]
    if not user.has_role(Role.BUYER, Role.PROVIDER, Role.MEMBER_FINANCE):
        return []
    cases = db.session.scalars(
        statement.where(or_(CorrectionCase.buyer_id == user.member_id, CorrectionCase.provider_id == user.member_id))
    )
    items = []
    for case in cases:
        side = case.side_of(user)
        said = case.buyer_statement if side == "buyer" else case.provider_statement
        if said:
            continue
        items.append(
            Todo(
                kind="correction.statement",
                title=_("Korrekturfall %(id)s (%(month)s)", id=case.id, month=month_label(case.period)),
                action=_("Stellung nehmen"),
                path=url_for("corrections.show", case_id=case.id),
                dated=case.opened_at.date(),
            )
        )
    return items
