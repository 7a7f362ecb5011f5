"""Services that providers publish, with categories and price versions."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, MemberKind, Role, User

# Bounds of the service's columns, for forms and API schemas (catalogue/operations.py checks the same).
#: ``services.title``, VARCHAR(200).
MAX_TITLE = 200
#: Net price of one unit; ``unit_price_cents`` is BIGINT, the cap keeps a month's charge far inside it.
MAX_UNIT_PRICE = Decimal("10000000.00")
#: ``services.capacity``, INTEGER: units at once.
MAX_CAPACITY = 1_000_000
MAX_MINIMUM_TERM_MONTHS = 120
MAX_NOTICE_DAYS = 730
MAX_RESPONSE_HOURS = 8_760
#: ``services.sla_availability``, NUMERIC(5, 2): a percentage.
SLA_AVAILABILITY_PLACES = 2

#: Legal forms under public law (§ 2b UStG applies to them only): the others may offer S and E, not O.
PUBLIC_LAW_KINDS = frozenset(
    {MemberKind.DATA_CENTRE, MemberKind.MUNICIPALITY, MemberKind.COUNTY, MemberKind.STATE_AGENCY}
)


class ServiceStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    PAUSED = "paused"
    RETIRED = "retired"


class Unit(enum.StrEnum):
    MONTH = "month"
    HOUR = "hour"
    PIECE = "piece"
    GB_MONTH = "gb-month"
    USER_MONTH = "user-month"

    @property
    def recurring(self) -> bool:
        """`month` is charged pro rata per booked day; every other unit is metered by usage."""
        return self is Unit.MONTH


class VatCategory(enum.StrEnum):
    STANDARD = "S"  # taxable, 19 %
    NOT_TAXABLE = "O"  # not taxable under § 2b UStG
    EXEMPT = "E"  # exempt


#: The VAT rate each category carries, as the API writes it.
VAT_RATES: dict[VatCategory, Decimal] = {
    VatCategory.STANDARD: Decimal("19.00"),
    VatCategory.NOT_TAXABLE: Decimal("0.00"),
    VatCategory.EXEMPT: Decimal("0.00"),
}


#: Exemption reasons (BT-120) and codes (BT-121) of O and E when the service names none of its own.
DEFAULT_EXEMPTION: dict[VatCategory, tuple[str, str]] = {
    VatCategory.NOT_TAXABLE: (
        "VATEX-EU-O",
        "Nicht steuerbar: Leistung einer juristischen Person des öffentlichen Rechts im Rahmen ihrer "
        "hoheitlichen Tätigkeit (§ 2b UStG)",
    ),
    VatCategory.EXEMPT: ("VATEX-EU-132", "Steuerbefreit nach Art. 132 MwStSystRL (§ 4 UStG)"),
}


def exemption_of(category: VatCategory, vatex_code: str | None, legal_basis: str | None) -> tuple[str, str] | None:
    """(VATEX code, reason text) that an invoice of this tax treatment states (BT-121, BT-120); None for S.

    A service's own VATEX code wins for E; its legal basis, where given, is the text ("Steuerfrei nach …")."""
    if category is VatCategory.STANDARD:
        return None
    code, text = DEFAULT_EXEMPTION[category]
    if category is VatCategory.EXEMPT and vatex_code:
        code = vatex_code
    if legal_basis:
        lead = "Nicht steuerbar" if category is VatCategory.NOT_TAXABLE else "Steuerfrei"
        text = f"{lead} nach {legal_basis}"
    return code, text


class TaxReason(enum.StrEnum):
    """Why a service is not taxable under § 2b Abs. 3 Nr. 2 UStG (the criteria of a cooperation)."""

    PUBLIC_LAW_AGREEMENT = "public_law_agreement"  # long-term public-law agreement
    SHARED_PUBLIC_TASK = "shared_public_task"  # serves a public task shared by both bodies
    COST_REIMBURSEMENT = "cost_reimbursement"  # reimbursement of costs only, without margin
    MAINLY_PUBLIC_BODIES = "mainly_public_bodies"  # the provider serves mainly public bodies


#: Categories every installation starts with (slug, German name, English name); the migration seeds them.
DEFAULT_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("hosting", "Hosting", "Hosting"),
    ("operations", "Betrieb", "Operations"),
    ("licence-management", "Lizenzmanagement", "Licence management"),
    ("consulting", "Beratung", "Consulting"),
    ("training", "Schulung", "Training"),
    ("software", "Software", "Software"),
    ("support", "Support", "Support"),
)


class Category(db.Model):
    """A kind of service; the operator manages them (marketplace/catalogue/categories.py)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The stable key the API and the search filter use; derived from the German name once, never changed.
    slug: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name_de: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False)
    #: Order in lists and facets, ascending.
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: When the operator retired it: it stays on existing services but is no longer offered for new ones.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class Service(db.Model):
    """An IT service a member offers to other public bodies at cost."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("unit_price_cents >= 0", name="unit_price_not_negative"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint("minimum_term_months >= 0", name="minimum_term_not_negative"),
        CheckConstraint("notice_period_days >= 0", name="notice_period_not_negative"),
        CheckConstraint(
            "sla_availability IS NULL OR (sla_availability >= 0 AND sla_availability <= 100)",
            name="sla_availability_percent",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    unit: Mapped[Unit] = mapped_column(str_enum(Unit, "service_unit"), nullable=False)
    #: The current price per unit in cents; each change also writes a PriceVersion.
    unit_price_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    vat_category: Mapped[VatCategory] = mapped_column(str_enum(VatCategory, "vat_category"), nullable=False)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    #: Units the service can carry at once across all accepted bookings; null is unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ServiceStatus] = mapped_column(
        str_enum(ServiceStatus, "service_status"), nullable=False, default=ServiceStatus.DRAFT, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Contract terms: the shortest term a booking runs (months) and the notice to cancel (days).
    minimum_term_months: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    notice_period_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: Service level: availability in percent (e.g. 99.50), support hours as text, response time in hours.
    sla_availability: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    sla_support_hours: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    sla_response_hours: Mapped[int | None] = mapped_column(Integer)
    contact_name: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    contact_email: Mapped[str] = mapped_column(String(254), nullable=False, default="", server_default="")
    contact_phone: Mapped[str] = mapped_column(String(40), nullable=False, default="", server_default="")
    #: Tax treatment beyond the category: the legal basis (O, E), the reasons for O (comma-separated
    #: TaxReason values), a free-text reasoning, and the VATEX code for E (EN 16931 BT-121).
    tax_legal_basis: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    tax_reasons: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    tax_reasoning: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    vatex_code: Mapped[str | None] = mapped_column(String(40))

    provider: Mapped[Member] = relationship(lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    price_versions: Mapped[list[PriceVersion]] = relationship(
        back_populates="service", order_by="PriceVersion.id", lazy="select"
    )
    documents: Mapped[list[ServiceDocument]] = relationship(
        back_populates="service", order_by="ServiceDocument.id", lazy="select"
    )

    @property
    def tax_reason_list(self) -> list[TaxReason]:
        return [TaxReason(code) for code in self.tax_reasons.split(",") if code]

    def can_edit(self, user: User) -> bool:
        return user.member_id == self.provider_id and Role.PROVIDER in user.roles

    def can_view(self, user: User) -> bool:
        """Published and paused services are public to members; drafts and retired ones to their provider."""
        return self.status in (ServiceStatus.PUBLISHED, ServiceStatus.PAUSED) or user.member_id == self.provider_id

    def can_book(self, user: User) -> bool:
        return (
            self.status is ServiceStatus.PUBLISHED and Role.BUYER in user.roles and user.member_id != self.provider_id
        )


class PriceVersion(db.Model):
    """A price a service carried from `valid_from`; bookings snapshot the version current at acceptance."""

    __tablename__ = "price_versions"
    __table_args__ = (CheckConstraint("unit_price_cents >= 0", name="unit_price_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), nullable=False, index=True)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    vat_category: Mapped[VatCategory] = mapped_column(str_enum(VatCategory, "vat_category"), nullable=False)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: When the next version replaced this one; null for the current version.
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    service: Mapped[Service] = relationship(back_populates="price_versions")


class ServiceDocument(db.Model):
    """A PDF attached to a service (service description, SLA, data processing agreement)."""

    __tablename__ = "service_documents"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    service: Mapped[Service] = relationship(back_populates="documents")
