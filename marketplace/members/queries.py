"""Reads on members and users."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.core.errors import NotFound, PermissionDenied
from marketplace.extensions import db
from marketplace.members.models import ApiToken, Member, Role, User, UserRole, hash_token


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the e-mail is unknown, so that timing does not reveal which e-mails exist."""
    return generate_password_hash("no-such-user")


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user if user.is_active else None


#: Built once: SQLAlchemy then reuses its cache key instead of computing it on every request.
_USER_WITH_ROLES = (
    select(User)
    .options(joinedload(User.role_rows))
    .where(User.id == bindparam("user_id"), User.session_epoch == bindparam("session_epoch"))
)


_SESSION_ID = re.compile(r"(?P<user_id>[0-9]{1,18}):(?P<epoch>[0-9]{1,18})")


def user_for_session(session_id: str) -> User | None:
    """The user a session cookie names (`User.get_id`: "<id>:<epoch>"), with member and roles in one query
    (every page needs all three); None when the session has been ended by a logout since, or is malformed."""
    match = _SESSION_ID.fullmatch(session_id)
    if match is None:
        return None
    params = {"user_id": int(match["user_id"]), "session_epoch": int(match["epoch"])}
    return db.session.execute(_USER_WITH_ROLES, params).unique().scalar_one_or_none()


_TOKEN_WITH_USER = (
    select(ApiToken)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    .options(joinedload(ApiToken.user).joinedload(User.role_rows))
)


def user_by_token(plain: str) -> tuple[User, ApiToken] | None:
    """The active user of an unrevoked API token, with member and roles loaded in the same query."""
    token = db.session.scalars(_TOKEN_WITH_USER, {"token_hash": hash_token(plain)}).unique().one_or_none()
    if token is None or not token.user.is_active:
        return None
    return token.user, token


def operator_member() -> Member | None:
    return db.session.scalar(select(Member).where(Member.is_operator.is_(True)))


def members_by_name() -> list[Member]:
    return list(db.session.scalars(select(Member).order_by(Member.name)))


def finance_contact_email(member: Member) -> str:
    """Where money matters of `member` go (e.g. the Stripe customer its debits are drawn from): the e-mail
    of its longest-standing active member-finance user, or, when it has none, its general contact address
    (which may be empty). Members have no finance contact field of their own; their finance staff are users."""
    email = db.session.scalar(
        select(User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.member_id == member.id, User.active.is_(True), UserRole.role == Role.MEMBER_FINANCE)
        .order_by(User.id)
        .limit(1)
    )
    return email or member.contact_email


def visible_ledger_member(user: User, requested: int | None) -> int | None:
    """Whose money `user` sees when a page or the API names `requested` (a member id, or None).

    The one rule for pages and API alike: operator finance sees every member (None: all of them, or the
    one named); member finance sees only its own member, whatever it names. Raises NotFound when the named
    member does not exist or is another member's (its existence is not revealed), PermissionDenied for a
    user without a finance role.
    """
    if not user.is_finance:
        raise PermissionDenied("Konten und Salden sehen nur Finanzrollen.")
    if user.is_operator_finance:
        if requested is not None and db.session.get(Member, requested) is None:
            raise NotFound("Dieses Mitglied gibt es nicht.")
        return requested
    if requested is not None and requested != user.member_id:
        raise NotFound("Dieses Mitglied gibt es nicht.")
    return user.member_id


def tokens_of(user: User) -> list[ApiToken]:
    """The user's API tokens, active first, newest first."""
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
