"""Writes on members, users and API tokens. Every function flushes; the caller commits."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooManyAttempts
from marketplace.core.events import PasswordResetRequested, UserInvited, announce
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.core.validators import clean_ags, clean_iban, clean_leitweg_id, clean_vat_id, text_problem
from marketplace.extensions import db
from marketplace.members import login_guard
from marketplace.members.models import (
    MEMBER_ROLES,
    OPERATOR_ROLES,
    ApiToken,
    Member,
    MemberKind,
    Role,
    User,
    UserRole,
    UserToken,
    UserTokenPurpose,
    hash_token,
)
from marketplace.members.queries import authenticate

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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
    """Create the member of a public body (without ledger accounts: `marketplace.admission.admit_member`
    admits a member with its accounts).

    Raises InvalidInput for malformed identifiers and Conflict if the name is taken.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput.field("name", "Bitte einen Namen angeben.")
    if db.session.scalar(select(Member.id).where(Member.name == name)) is not None:
        raise Conflict("Ein Mitglied namens „%(name)s“ gibt es bereits.", name=name)
    given = {"leitweg_id": leitweg_id, "iban": iban, "vat_id": vat_id, **details}
    data = _clean_member_data({key: value for key, value in given.items() if key in MEMBER_DATA_FIELDS})
    member = Member(
        name=name,
        kind=kind,
        is_operator=is_operator,
        ags=clean_ags(ags),
        **{key: value for key, value in data.items() if value is not None},
        **{key: value for key, value in details.items() if key not in MEMBER_DATA_FIELDS and value is not None},
    )
    db.session.add(member)
    db.session.flush()
    record_audit(actor, "member.created", member, member_id=member.id, data={"name": name})
    return member


#: The master data of a member that invoices and payments need, as `update_member_data` takes them.
MEMBER_DATA_FIELDS = (
    "street",
    "postcode",
    "city",
    "leitweg_id",
    "vat_id",
    "tax_number",
    "iban",
    "bic",
    "contact_name",
    "contact_email",
    "contact_phone",
)
_POSTCODE_RE = re.compile(r"^[0-9]{5}$")
_BIC_RE = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_TAX_NUMBER_RE = re.compile(r"^[0-9/ ]{10,20}$")


def _clean_member_data(fields: dict[str, str | None]) -> dict[str, str | None]:
    """Each field trimmed and checked; every malformed field named in one InvalidInput."""
    cleaned: dict[str, str | None] = {}
    errors: dict[str, list[str]] = {}
    checks = {
        "leitweg_id": clean_leitweg_id,
        "iban": clean_iban,
        "vat_id": clean_vat_id,
    }
    for name, raw in fields.items():
        value = (raw or "").strip()
        try:
            if name in checks:
                cleaned[name] = checks[name](value or None)
            elif name == "postcode" and value and not _POSTCODE_RE.match(value):
                raise InvalidInput.field(name, "Die Postleitzahl hat genau 5 Ziffern.")
            elif name == "bic" and value and not _BIC_RE.match(value.replace(" ", "").upper()):
                raise InvalidInput.field(name, "Die BIC hat 8 oder 11 Zeichen, z. B. MALADE51MNZ.")
            elif name == "tax_number" and value and not _TAX_NUMBER_RE.match(value):
                raise InvalidInput.field(name, "Die Steuernummer besteht aus 10 bis 13 Ziffern, z. B. 26/673/00154.")
            elif name == "contact_email" and value and not _EMAIL_RE.match(value):
                raise InvalidInput.field(name, "Das ist keine gültige E-Mail-Adresse.")
            elif name == "bic":
                cleaned[name] = value.replace(" ", "").upper() or None
            elif name == "tax_number":
                cleaned[name] = value or None
            else:
                if problem := text_problem(value):
                    raise InvalidInput.field(name, problem)
                cleaned[name] = value
        except InvalidInput as error:
            for field, messages in error.errors.items():
                errors.setdefault(field, []).extend(messages)
    for name in ("street", "postcode", "city"):
        if name in fields and not cleaned.get(name) and name not in errors:
            errors[name] = ["Rechnungen brauchen die Anschrift: bitte Straße, Postleitzahl und Ort angeben."]
    if errors:
        raise InvalidInput("Bitte prüfen Sie die Stammdaten.", errors=errors)
    return cleaned


def update_member_data(actor: User, member: Member, **fields: str | None) -> Member:
    """Change the master data invoices and payments need (address, Leitweg-ID, VAT id, IBAN, contact).

    The operator's admins change every member's, a member admin its own member's. Malformed values are an
    InvalidInput naming each field; the audit trail keeps what changed, before and after.
    """
    if not actor.can_edit_member_data(member.id):
        raise PermissionDenied("Die Stammdaten ändert nur die Verwaltung des Mitglieds oder des Betreibers.")
    unknown = set(fields) - set(MEMBER_DATA_FIELDS)
    if unknown:
        raise InvalidInput.field(sorted(unknown)[0], "Dieses Feld gibt es in den Stammdaten nicht.")
    cleaned = _clean_member_data(fields)
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    for name, value in cleaned.items():
        old = getattr(member, name)
        if (old or None) != (value or None):
            before[name], after[name] = old, value
            setattr(member, name, value if value is not None else _EMPTY_DEFAULTS.get(name))
    if not after:
        return member
    db.session.flush()
    record_audit(actor, "member.updated", member, member_id=member.id, data={"before": before, "after": after})
    return member


#: Columns that hold "" rather than NULL when a value is removed.
_EMPTY_DEFAULTS: dict[str, str] = {
    name: "" for name in ("street", "postcode", "city", "contact_name", "contact_email", "contact_phone")
}


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
        raise InvalidInput.field(
            "password",
            "Das Passwort braucht mindestens %(min_password_length)s Zeichen.",
            min_password_length=MIN_PASSWORD_LENGTH,
        )
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("Die E-Mail-Adresse %(email)s ist bereits vergeben.", email=email)
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


def revoke_token(actor: User, token: ApiToken) -> ApiToken:
    """Revoke an API token at once (requests with it get 401). Raises Conflict if it is revoked already."""
    if token.revoked_at is not None:
        raise Conflict("Dieser Token ist bereits widerrufen.")
    token.revoked_at = utcnow()
    db.session.flush()
    record_audit(actor, "token.revoked", token, member_id=actor.member_id, data={"name": token.name})
    return token


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


def end_sessions(user: User) -> None:
    """End every session of `user`, on every device and in every copied cookie: each names the epoch it
    was issued under, and the epoch moves on (in SQL, so two logouts at once both count)."""
    user.session_epoch = User.session_epoch + 1
    db.session.flush()


# --- administration: admitting and suspending members, inviting users, roles, password resets ---------

INVITATION_DAYS = 7
RESET_HOURS = 2


def assignable_roles(member: Member) -> tuple[Role, ...]:
    return (*MEMBER_ROLES, *OPERATOR_ROLES) if member.is_operator else MEMBER_ROLES


def set_member_active(actor: User, member: Member, active: bool) -> Member:
    """The operator admits (re-activates) or suspends a member; suspended members' users cannot log in."""
    if not actor.is_operator_admin:
        raise PermissionDenied("Nur die Verwaltung des Betreibers nimmt Mitglieder auf oder sperrt sie.")
    if member.is_operator and not active:
        raise Conflict("Der Betreiber kann sich nicht selbst sperren.")
    if member.active == active:
        raise Conflict(
            "„%(member)s“ ist bereits aktiv." if active else "„%(member)s“ ist bereits gesperrt.", member=member.name
        )
    member.active = active
    db.session.flush()
    record_audit(
        actor,
        "member.admitted" if active else "member.suspended",
        member,
        member_id=member.id,
        data={"before": {"active": not active}, "after": {"active": active}},
    )
    return member


def _one_time_token(user: User, purpose: UserTokenPurpose, lifetime: timedelta) -> str:
    plain = secrets.token_urlsafe(32)
    db.session.add(UserToken(user=user, purpose=purpose, token_hash=hash_token(plain), expires_at=utcnow() + lifetime))
    db.session.flush()
    return plain


def _check_roles(member: Member, roles: Iterable[Role]) -> list[Role]:
    chosen = sorted({Role(role) for role in roles})
    allowed = assignable_roles(member)
    wrong = [role for role in chosen if role not in allowed]
    if wrong:
        raise InvalidInput.field(
            "roles", "Diese Rolle gibt es für dieses Mitglied nicht: %(roles)s", roles=", ".join(wrong)
        )
    if not chosen:
        raise InvalidInput.field("roles", "Bitte mindestens eine Rolle wählen.")
    return chosen


def invite_user(actor: User, member: Member, *, email: str, name: str, roles: Iterable[Role]) -> User:
    """Create a user without a usable password and announce the invitation (the notifications e-mail the
    link to set one).

    Raises PermissionDenied, InvalidInput (e-mail, name, roles) or Conflict (e-mail taken).
    """
    if not actor.can_manage_users_of(member.id):
        raise PermissionDenied("Nur die Verwaltung des Mitglieds lädt Personen ein.")
    email = (email or "").strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise InvalidInput.field("email", "Das ist keine gültige E-Mail-Adresse.")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput.field("name", "Bitte einen Namen mit höchstens 200 Zeichen angeben.")
    chosen = _check_roles(member, roles)
    user = create_user(actor, member=member, email=email, name=name, password=secrets.token_urlsafe(32), roles=chosen)
    plain = _one_time_token(user, UserTokenPurpose.INVITATION, timedelta(days=INVITATION_DAYS))
    db.session.flush()
    announce(UserInvited(user_id=user.id, member_id=member.id, inviter_id=actor.id, token=plain))
    record_audit(
        actor,
        "user.invited",
        user,
        member_id=member.id,
        data={"before": None, "after": {"email": email, "roles": [r.value for r in chosen]}},
    )
    return user


def set_user_roles(actor: User, user: User, roles: Iterable[Role]) -> User:
    """Replace a user's roles. An admin cannot take away their own admin role (nobody would be left to undo it)."""
    if not actor.can_manage_users_of(user.member_id):
        raise PermissionDenied("Nur die Verwaltung des Mitglieds vergibt Rollen.")
    chosen = _check_roles(user.member, roles)
    if user.id == actor.id and not ({Role.MEMBER_ADMIN, Role.OPERATOR_ADMIN} & set(chosen)):
        raise Conflict("Sie können sich die Verwaltungsrolle nicht selbst entziehen.")
    before = sorted(r.value for r in user.roles)
    user.role_rows = [UserRole(role=role) for role in chosen]
    db.session.flush()
    record_audit(
        actor,
        "user.roles_changed",
        user,
        member_id=user.member_id,
        data={"before": {"roles": before}, "after": {"roles": [r.value for r in chosen]}},
    )
    return user


def set_user_active(actor: User, user: User, active: bool) -> User:
    if not actor.can_manage_users_of(user.member_id):
        raise PermissionDenied("Nur die Verwaltung des Mitglieds sperrt Zugänge.")
    if user.id == actor.id:
        raise Conflict("Sie können Ihren eigenen Zugang nicht sperren.")
    if user.active == active:
        raise Conflict(
            "Der Zugang %(email)s ist bereits aktiv." if active else "Der Zugang %(email)s ist bereits gesperrt.",
            email=user.email,
        )
    user.active = active
    db.session.flush()
    record_audit(
        actor,
        "user.activated" if active else "user.deactivated",
        user,
        member_id=user.member_id,
        data={"before": {"active": not active}, "after": {"active": active}},
    )
    return user


def request_password_reset(email: str) -> None:
    """Announce a reset link (the notifications e-mail it) if an active user has this address; says
    nothing either way (no enumeration)."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.is_active:
        return
    plain = _one_time_token(user, UserTokenPurpose.PASSWORD_RESET, timedelta(hours=RESET_HOURS))
    db.session.flush()
    announce(PasswordResetRequested(user_id=user.id, token=plain))
    record_audit(None, "user.password_reset_requested", user, member_id=user.member_id, data=None)


def token_user(plain: str) -> UserToken | None:
    """The unused, unexpired token with this value, or None."""
    token = db.session.scalar(select(UserToken).where(UserToken.token_hash == hash_token(plain or "")))
    if token is None or token.used_at is not None:
        return None
    expires = token.expires_at if token.expires_at.tzinfo else token.expires_at.replace(tzinfo=UTC)
    return token if expires > utcnow() else None


def set_password_with_token(plain: str, password: str) -> User:
    """Set a new password through an invitation or reset link (used once). Raises NotFound or InvalidInput."""
    token = token_user(plain)
    if token is None:
        raise NotFound("Dieser Link ist ungültig, abgelaufen oder wurde schon verwendet.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput.field(
            "password",
            "Das Passwort braucht mindestens %(min_password_length)s Zeichen.",
            min_password_length=MIN_PASSWORD_LENGTH,
        )
    if len(password) > 200:
        raise InvalidInput.field("password", "Das Passwort hat höchstens 200 Zeichen.")
    token.used_at = utcnow()
    token.user.password_hash = hash_password(password)
    end_sessions(token.user)  # whoever held a session under the old password loses it
    for other in db.session.scalars(
        select(UserToken).where(UserToken.user_id == token.user_id, UserToken.used_at.is_(None))
    ):
        other.used_at = token.used_at
    db.session.flush()
    record_audit(
        token.user, f"user.password_set.{token.purpose.value}", token.user, member_id=token.user.member_id, data=None
    )
    return token.user


def log_in(email: str, password: str, address: str) -> User:
    """The active user with this e-mail and password, counting failures per account and address.

    Raises TooManyAttempts (with `retry_after` seconds) while the account or the address is locked after
    too many failures, whatever the password; InvalidInput for a wrong e-mail or password (counted as a
    failure). A successful login forgets the account's failures.
    """
    wait = login_guard.locked_for(email, address)
    if wait:
        current_app.logger.warning("login locked", extra={"event": "login_locked", "retry_after": wait})
        raise TooManyAttempts("Zu viele fehlgeschlagene Anmeldeversuche.", retry_after=wait)
    user = authenticate(email, password)
    if user is None:
        if email.strip() and password:
            login_guard.record_failure(email, address)
            current_app.logger.info("login failed", extra={"event": "login_failed"})
        raise InvalidInput("E-Mail-Adresse oder Passwort sind falsch.")
    login_guard.forget_failures(email)
    return user
