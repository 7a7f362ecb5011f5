"""Cost-sharing tables: plans (a service's cost for a year), participants, Königsteiner values, the
monthly advances charged and the year-end true-up per participant.

Amounts are integer cents. Money moves only through the ledger; these rows record why it moved.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalogue.models import Service
from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User


class AllocationKey(enum.StrEnum):
    EQUAL = "equal"  # gleiche Anteile
    POPULATION = "population"  # nach Einwohnerzahl (mit Stichtag)
    KOENIGSTEIN = "koenigstein"  # Königsteiner Schlüssel des Jahres, über die Teilnehmer renormiert
    CUSTOM = "custom"  # frei vereinbarte Gewichte


class ParticipantState(enum.StrEnum):
    """A member joins a plan only by its own consent: the provider invites, the member's staff answer."""

    INVITED = "invited"  # asked; carries no share and is charged nothing
    ACCEPTED = "accepted"  # takes part: the key is applied over the accepted participants
    DECLINED = "declined"  # said no; the provider may invite again


#: Member roles whose holders may accept or decline an invitation for their member.
CONSENTING_ROLES = (Role.BUYER, Role.MEMBER_FINANCE, Role.MEMBER_ADMIN)


class PlanStatus(enum.StrEnum):
    OPEN = "open"  # advances are charged monthly
    TRUED_UP = "trued_up"  # the actual cost is settled; nothing more is charged


class CostSharingPlan(db.Model):
    """A service's planned annual cost for one year, shared among participants by an allocation key."""

    __tablename__ = "cost_sharing_plans"
    __table_args__ = (
        UniqueConstraint("service_id", "year", name="uq_cost_sharing_plans_service_year"),
        CheckConstraint("planned_cost_cents >= 0", name="planned_not_negative"),
        CheckConstraint("actual_cost_cents IS NULL OR actual_cost_cents >= 0", name="actual_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), nullable=False, index=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    #: What the provider expects the service to cost in the year; the advances are based on it.
    planned_cost_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    allocation_key: Mapped[AllocationKey] = mapped_column(
        str_enum(AllocationKey, "cost_sharing_allocation_key"), nullable=False
    )
    status: Mapped[PlanStatus] = mapped_column(
        str_enum(PlanStatus, "cost_sharing_plan_status"), nullable=False, default=PlanStatus.OPEN
    )
    #: Entered by the provider with the true-up (Spitzabrechnung).
    actual_cost_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    trued_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trued_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    service: Mapped[Service] = relationship(lazy="joined")
    participants: Mapped[list[Participant]] = relationship(
        back_populates="plan", order_by="Participant.id", lazy="selectin"
    )

    @property
    def provider_id(self) -> int:
        return self.service.provider_id

    def can_manage(self, user: User) -> bool:
        """The provider's staff plan, add participants and true up."""
        return user.member_id == self.provider_id and Role.PROVIDER in user.roles

    def can_view(self, user: User) -> bool:
        """The provider, operator finance, and the members taking part or invited (their own share only)."""
        if user.member_id == self.provider_id or user.is_operator_finance:
            return True
        return any(p.member_id == user.member_id for p in self.participants)

    def participant_of(self, member_id: int) -> Participant | None:
        return next((p for p in self.participants if p.member_id == member_id), None)

    @property
    def enrolled(self) -> list[Participant]:
        """The participants who accepted: only they carry a share and are charged."""
        return [p for p in self.participants if p.state is ParticipantState.ACCEPTED]


# Bounds of the participants' and Königstein columns, for the forms and the operations (PostgreSQL refuses
# larger values with an error; SQLite would store them silently).
#: ``weight``, NUMERIC(14, 5): nine integer digits, five places.
WEIGHT_PLACES = 5
MAX_WEIGHT = Decimal("999999999.99999")
#: ``population``, INTEGER.
MAX_POPULATION = 2_147_483_647
#: ``koenigstein_values.value``, NUMERIC(9, 5): a percentage with five places.
KOENIGSTEIN_PLACES = 5


class Participant(db.Model):
    """A member taking part in a plan from a date (and possibly until a date) with its key's weight."""

    __tablename__ = "cost_sharing_participants"
    __table_args__ = (
        UniqueConstraint("plan_id", "member_id", name="uq_cost_sharing_participants_plan_member"),
        CheckConstraint("leaves_on IS NULL OR leaves_on >= joins_on", name="leaves_after_joining"),
        CheckConstraint("weight IS NULL OR weight >= 0", name="weight_not_negative"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("cost_sharing_plans.id"), nullable=False, index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    joins_on: Mapped[date] = mapped_column(Date, nullable=False)
    #: Last day of participation (inclusive); null while it continues.
    leaves_on: Mapped[date | None] = mapped_column(Date)
    #: Custom key: the agreed weight.
    weight: Mapped[Decimal | None] = mapped_column(Numeric(14, 5))
    #: Inhabitants key: the population and its reference date (Stichtag).
    population: Mapped[int | None] = mapped_column(Integer)
    population_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Invited by the provider, then accepted or declined by the member's staff (rows from before
    #: invitations existed count as accepted: the server default).
    state: Mapped[ParticipantState] = mapped_column(
        str_enum(ParticipantState, "cost_sharing_participant_state"),
        nullable=False,
        default=ParticipantState.INVITED,
        server_default=ParticipantState.ACCEPTED.value,
        index=True,
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    plan: Mapped[CostSharingPlan] = relationship(back_populates="participants")
    member: Mapped[Member] = relationship(lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    def can_answer(self, user: User) -> bool:
        """The invited member's staff (buyers, finance, member admins) accept or decline."""
        return user.member_id == self.member_id and user.has_role(*CONSENTING_ROLES)


class KoenigsteinValue(db.Model):
    """A member's Königsteiner Schlüssel for a year, as the operator entered it (e.g. 7.44344 %)."""

    __tablename__ = "koenigstein_values"
    __table_args__ = (
        UniqueConstraint("year", "member_id", name="uq_koenigstein_values_year_member"),
        CheckConstraint("value > 0", name="value_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    value: Mapped[Decimal] = mapped_column(Numeric(9, 5), nullable=False)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[Member] = relationship(lazy="joined")


class Advance(db.Model):
    """One monthly advance (Abschlag) charged to a participant: the ledger transfer and its invoice."""

    __tablename__ = "cost_sharing_advances"
    __table_args__ = (
        UniqueConstraint("plan_id", "member_id", "period", name="uq_cost_sharing_advances_plan_member_period"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("cost_sharing_plans.id"), nullable=False, index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    #: ``YYYY-MM``
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), nullable=False, unique=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), unique=True)


class TrueUp(db.Model):
    """A participant's year-end settlement: its final amount, the advances charged, and the difference."""

    __tablename__ = "cost_sharing_true_ups"
    __table_args__ = (UniqueConstraint("plan_id", "member_id", name="uq_cost_sharing_true_ups_plan_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("cost_sharing_plans.id"), nullable=False, index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    #: The participant's key weight and days in the year as the true-up used them (a Königsteiner value
    #: corrected later changes neither; null for true-ups booked before they were kept).
    #: Wide enough for every key's weight: a custom weight (NUMERIC(14, 5)) and an inhabitants' count (INTEGER).
    weight: Mapped[Decimal | None] = mapped_column(Numeric(20, 5))
    days: Mapped[int | None] = mapped_column(Integer)
    #: Its part of the planned cost at the true-up.
    planned_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: Actual cost × the participant's share over its days (net).
    final_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: The advances charged during the year (net).
    advances_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: final − advances: positive is charged, negative is credited.
    difference_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: The VAT already invoiced with the advances (shown as prepaid with them, BT-113).
    advances_vat_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    #: The final invoice (380, advances as prepaid) or the credit note (381) of the overpayment.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), unique=True)

    member: Mapped[Member] = relationship(lazy="joined")

    @property
    def prepaid_cents(self) -> int:
        return self.advances_cents + self.advances_vat_cents
