"""To-do source of cost sharing (marketplace.core.todos): invitations the member's staff have to answer."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _

from marketplace.core.todos import Todo
from marketplace.costsharing.models import CONSENTING_ROLES
from marketplace.costsharing.queries import expected_share, invitations_of
from marketplace.members.models import User


def plans_to_accept(user: User) -> list[Todo]:
    """The member's open invitations to share a service's cost, with the expected annual share."""
    if not user.has_role(*CONSENTING_ROLES):
        return []
    items = []
    for participant in invitations_of(user.member_id):
        plan = participant.plan
        _percent, cents = expected_share(plan, participant)
        items.append(
            Todo(
                kind="costsharing.invitation",
                title=_(
                    "Einladung zur Kostenteilung %(service)s %(year)s von %(provider)s",
                    service=plan.service.title,
                    year=plan.year,
                    provider=plan.service.provider.name,
                ),
                action=_("Zustimmen oder ablehnen"),
                path=url_for("costsharing.show", plan_id=plan.id),
                dated=participant.created_at.date(),
                detail=_("erwarteter Jahresanteil"),
                amount_cents=cents,
            )
        )
    return items
