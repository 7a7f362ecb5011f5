"""Members are public bodies; users belong to exactly one member and carry roles."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db


class MemberKind(enum.StrEnum):
    OPERATOR = "operator"
    DATA_CENTRE = "data_centre"
    MUNICIPALITY = "municipality"
    COUNTY = "county"
    STATE_AGENCY = "state_agency"
    ASSOCIATION = "association"


class Role(enum.StrEnum):
    OPERATOR_ADMIN = "operator_admin"
    OPERATOR_FINANCE = "operator_finance"
    PROVIDER = "provider"
    BUYER = "buyer"
    MEMBER_FINANCE = "member_finance"
    #: Manages the users of its own member (invites, roles) and reads its member's audit trail.
    MEMBER_ADMIN = "member_admin"


#: Roles a member admin may give within any member; the operator's own roles only within the operator.
MEMBER_ROLES = (Role.PROVIDER, Role.BUYER, Role.MEMBER_FINANCE, Role.MEMBER_ADMIN)
OPERATOR_ROLES = (Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)

#: Roles that may read ledger data (their own member's, or all for the operator).
FINANCE_ROLES = frozenset({Role.OPERATOR_FINANCE, Role.MEMBER_FINANCE})


class Member(db.Model):
    """A public body taking part in the exchange (or the operator that runs it)."""

    __tablename__ = "members"
    __table_args__ = (
        # At most one operator: a partial unique index (PostgreSQL and SQLite both support them).
        Index(
            "uq_members_single_operator",
            "is_operator",
            unique=True,
            postgresql_where=text("is_operator"),
            sqlite_where=text("is_operator"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[MemberKind] = mapped_column(str_enum(MemberKind, "member_kind"), nullable=False)
    #: Amtlicher Gemeindeschlüssel (8 digits), where the member is a territorial body.
    ags: Mapped[str | None] = mapped_column(String(8))
    #: Leitweg-ID for e-invoices addressed to this member (XRechnung BuyerReference).
    leitweg_id: Mapped[str | None] = mapped_column(String(46))
    street: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    postcode: Mapped[str] = mapped_column(String(10), nullable=False, default="")
    city: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    vat_id: Mapped[str | None] = mapped_column(String(20))
    tax_number: Mapped[str | None] = mapped_column(String(20))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    contact_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    contact_email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    #: The SEPA creditor identifier (Gläubiger-Identifikationsnummer) under which this member collects direct
    #: debits: the operator's, named on invoices paid by its debit (XRechnung BT-90).
    sepa_creditor_id: Mapped[str | None] = mapped_column(String(35))
    #: Exactly one member operates the exchange.
    is_operator: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    users: Mapped[list[User]] = relationship(back_populates="member")

    @property
    def vat_identifier(self) -> str | None:
        """The VAT id with its country prefix (``DE136695976``), as invoices and tax auditors read it;
        members' German numbers are stored compact, without the prefix."""
        if not self.vat_id:
            return None
        return self.vat_id if self.vat_id[:2].isalpha() else f"DE{self.vat_id}"

    def __repr__(self) -> str:
        return f"<Member {self.id} {self.name}>"


class PaymentWay(enum.StrEnum):
    """How a member pays what its invoices ask, fixed before they are issued (XRechnung BT-81, UNTDID 4461)."""

    #: 97 clearing between partners: the exchange's monthly settlement nets the documents; the payment advice
    #: names the balance.
    CLEARING = "clearing"
    #: 59 SEPA direct debit: the operator debits the member's account under the mandate it holds.
    DEBIT = "debit"
    #: 58 SEPA credit transfer to the provider's account (the operator's where the provider names none).
    TRANSFER = "transfer"

    @property
    def code(self) -> str:
        return PAYMENT_MEANS_CODES[self]


#: UNTDID 4461 payment means code of each way (BT-81).
PAYMENT_MEANS_CODES = {PaymentWay.CLEARING: "97", PaymentWay.DEBIT: "59", PaymentWay.TRANSFER: "58"}


class InvoiceReference(enum.StrEnum):
    """The buyer's references an invoice may have to carry (one of each per invoice under EN 16931)."""

    ORDER = "order_reference"  # BT-13 purchase order reference (Bestellnummer)
    CONTRACT = "contract_reference"  # BT-12 contract reference (Vertragsnummer)
    BUYER_ACCOUNTING = "buyer_accounting_reference"  # BT-19 buyer accounting reference (Kostenstelle, Buchungskonto)
    PROJECT = "project_reference"  # BT-11 project reference (Projekt- oder Mittelbindungsnummer)


#: Length of a reference (``invoice_profiles``, ``bookings`` and ``invoices`` columns, VARCHAR(100)).
MAX_REFERENCE = 100
#: A SEPA mandate reference: at most 35 characters.
MAX_MANDATE_REFERENCE = 35


class InvoiceProfile(db.Model):
    """What a member's invoices must carry and how the member pays them; edited by its finance staff or the
    operator. A member without a row has the defaults: no required references, clearing (97)."""

    __tablename__ = "invoice_profiles"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, autoincrement=False)
    #: The references (``InvoiceReference`` values, comma-separated) every booking of the member must name.
    required: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    #: Defaults copied into a booking when it is requested without the reference.
    order_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    contract_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    buyer_accounting_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    project_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    payment_way: Mapped[PaymentWay] = mapped_column(
        str_enum(PaymentWay, "payment_way"), nullable=False, default=PaymentWay.CLEARING, server_default="clearing"
    )
    #: For the debit (59): the reference of the SEPA mandate the operator holds (BT-89) and the account debited
    #: (BT-91).
    mandate_reference: Mapped[str | None] = mapped_column(String(35))
    mandate_iban: Mapped[str | None] = mapped_column(String(34))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def required_references(self) -> list[InvoiceReference]:
        return [InvoiceReference(code) for code in self.required.split(",") if code]

    def default(self, reference: InvoiceReference) -> str:
        return str(getattr(self, reference.value) or "")


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), primary_key=True)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: werkzeug scrypt hash; never the password itself.
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: Counts the user's logouts (and new passwords). A session cookie names the number it was issued under
    #: (`get_id`) and is refused once that is no longer current, so a copy saved before a logout is worthless.
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    member: Mapped[Member] = relationship(back_populates="users", lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(lazy="selectin", cascade="all, delete-orphan")

    def get_id(self) -> str:  # flask-login: how the session cookie names its user
        return f"{self.id}:{self.session_epoch}"

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(row.role for row in self.role_rows)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_active(self) -> bool:  # flask-login: suspended users and members cannot log in
        return bool(self.active and self.member is not None and self.member.active)

    @property
    def is_operator_finance(self) -> bool:
        return self.member.is_operator and Role.OPERATOR_FINANCE in self.roles

    @property
    def is_finance(self) -> bool:
        return self.has_role(*FINANCE_ROLES)

    @property
    def is_operator_admin(self) -> bool:
        return bool(self.member and self.member.is_operator and Role.OPERATOR_ADMIN in self.roles)

    @property
    def is_operator_staff(self) -> bool:
        """The operator's administration or finance staff: they oversee every member's bookings (read only)."""
        return bool(self.member and self.member.is_operator and self.has_role(*OPERATOR_ROLES))

    def can_edit_member_data(self, member_id: int) -> bool:
        """The master data invoices need (address, IBAN, Leitweg-ID, VAT id): the operator's admins for every
        member, a member admin for its own."""
        return self.is_operator_admin or (Role.MEMBER_ADMIN in self.roles and self.member_id == member_id)

    def can_manage_users_of(self, member_id: int) -> bool:
        """The operator's admins manage every member's users; a member admin those of its own member."""
        return self.is_operator_admin or (Role.MEMBER_ADMIN in self.roles and self.member_id == member_id)

    def can_read_audit_of(self, member_id: int | None) -> bool:
        """The operator's admins read the whole trail; a member admin its own member's."""
        return self.is_operator_admin or (
            member_id is not None and Role.MEMBER_ADMIN in self.roles and self.member_id == member_id
        )

    def can_manage_invoice_profile(self, member_id: int) -> bool:
        """A member's finance staff keep its invoice profile and payment way; the operator's staff all of them."""
        return (
            self.is_operator_finance
            or self.is_operator_admin
            or (Role.MEMBER_FINANCE in self.roles and self.member_id == member_id)
        )

    def can_view_member_ledger(self, member_id: int) -> bool:
        """Operator finance sees every member's ledger, member finance only its own."""
        return self.is_operator_finance or (Role.MEMBER_FINANCE in self.roles and self.member_id == member_id)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(db.Model):
    """A bearer token for the HTTP API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: hex SHA-256 of the token; tokens carry 256 random bits, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: The first characters, shown to the user to tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    read_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


class UserTokenPurpose(enum.StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


class UserToken(db.Model):
    """A one-time link sent by e-mail (invitation or password reset); only its SHA-256 is stored."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    purpose: Mapped[UserTokenPurpose] = mapped_column(str_enum(UserTokenPurpose, "user_token_purpose"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


def hash_token(token: str) -> str:
    """How an API token is stored: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
