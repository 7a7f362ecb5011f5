"""Role checks that operations make themselves; per-object permissions are `can_<verb>` on the models."""

from __future__ import annotations

from marketplace.core.errors import PermissionDenied
from marketplace.members.models import User


def require_operator_finance(actor: User | None, action: str) -> None:
    """PermissionDenied unless `actor` is the operator's finance staff; `action` names what was refused
    (e.g. "Monate abschließen"). None (the system, e.g. a scheduled job) may."""
    if actor is not None and not actor.is_operator_finance:
        raise PermissionDenied("Das darf nur die Finanzabteilung des Betreibers: %(action)s.", action=action)
