"""API tokens as their owners manage them in the profile: list, revoke (creation is in members.operations)."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.core.errors import Conflict, NotFound
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import ApiToken, User


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, active first, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )


def own_token(user: User, token_id: int) -> ApiToken:
    """One of the user's own tokens; NotFound for anyone else's."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("Diesen Token gibt es nicht.")
    return token


def revoke_token(actor: User, token: ApiToken) -> ApiToken:
    """Revoke a token at once (requests with it get 401). Raises Conflict if it is revoked already."""
    if token.revoked_at is not None:
        raise Conflict("Dieser Token ist bereits widerrufen.")
    token.revoked_at = utcnow()
    db.session.flush()
    record_audit(actor, "token.revoked", token, member_id=actor.member_id, data={"name": token.name})
    return token
