"""Writes on members, users and API tokens. Every function flushes; the caller commits."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.core.validators import clean_ags, clean_iban, clean_leitweg_id, clean_vat_id
from marketplace.extensions import db
from marketplace.ledger.operations import open_member_accounts
from marketplace.members.models import ApiToken, Member, MemberKind, Role, User, UserRole

TOKEN_PREFIX = "lb_"  # noqa: S105 - a public prefix that marks our tokens in logs and scanners
MIN_PASSWORD_LENGTH = 10


def create_member(
    actor: User | None,
    *,
    name: str,
    kind: MemberKind,
    is_operator: bool = False,
    ags: str | None = None,
    leitweg_id: str | None = None,
    iban: str | None = None,
    vat_id: str | None = None,
    **details: str | None,
) -> Member:
    """Admit a public body and open its ledger accounts.

    Raises InvalidInput for malformed identifiers and Conflict if the name is taken.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput.field("name", "Bitte einen Namen angeben.")
    if db.session.scalar(select(Member.id).where(Member.name == name)) is not None:
        raise Conflict(f"Ein Mitglied namens „{name}“ gibt es bereits.")
    member = Member(
        name=name,
        kind=kind,
        is_operator=is_operator,
        ags=clean_ags(ags),
        leitweg_id=clean_leitweg_id(leitweg_id),
        iban=clean_iban(iban),
        vat_id=clean_vat_id(vat_id),
        **{key: value for key, value in details.items() if value is not None},
    )
    db.session.add(member)
    db.session.flush()
    open_member_accounts(member)
    record_audit(actor, "member.created", member, member_id=member.id, data={"name": name})
    return member


def create_user(
    actor: User | None,
    *,
    member: Member,
    email: str,
    name: str,
    password: str,
    roles: Iterable[Role],
) -> User:
    """Create a user of `member`. Raises InvalidInput (weak password) or Conflict (e-mail taken)."""
    email = (email or "").strip().lower()
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput.field("password", f"Das Passwort braucht mindestens {MIN_PASSWORD_LENGTH} Zeichen.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"Die E-Mail-Adresse {email} ist bereits vergeben.")
    user = User(
        member=member,
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        role_rows=[UserRole(role=Role(role)) for role in sorted(set(roles))],
    )
    db.session.add(user)
    db.session.flush()
    record_audit(actor, "user.created", user, member_id=member.id, data={"email": email})
    return user


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str = "CLI", *, read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the plain token (shown once, never stored)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name[:100], token_hash=hash_token(plain), prefix=plain[:10], read_only=read_only)
    db.session.add(token)
    db.session.flush()
    record_audit(user, "token.created", token, member_id=user.member_id, data={"name": token.name})
    return token, plain


def touch_token(token: ApiToken) -> None:
    token.last_used_at = utcnow()
