"""Reads of correction cases and releases, restricted to what the user may see."""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from marketplace.core.errors import NotFound
from marketplace.corrections.models import CaseStatus, CorrectionCase
from marketplace.extensions import db
from marketplace.members.models import Role, User
from marketplace.settlement.models import DocumentType, Invoice, ReleaseStatus


def cases_statement(user: User, status: CaseStatus | None = None) -> Select:
    """The cases the user may see (operator finance: all; a party's staff: its member's), newest first."""
    statement = select(CorrectionCase).order_by(CorrectionCase.id.desc())
    if not user.is_operator_finance:
        if not user.has_role(Role.BUYER, Role.PROVIDER, Role.MEMBER_FINANCE):
            return statement.where(CorrectionCase.id.is_(None))
        statement = statement.where(
            or_(CorrectionCase.buyer_id == user.member_id, CorrectionCase.provider_id == user.member_id)
        )
    if status is not None:
        statement = statement.where(CorrectionCase.status == status)
    return statement


def case_for(user: User, case_id: int) -> CorrectionCase:
    """The case if the user may see it; NotFound otherwise (its existence is not revealed)."""
    case = db.session.get(CorrectionCase, case_id)
    if case is None or not case.can_view(user):
        raise NotFound("Diesen Korrekturfall gibt es nicht.")
    return case


def cases_of_invoice(invoice_id: int) -> list[CorrectionCase]:
    """The cases about an invoice (its objection, or disputed charges it lists), oldest first."""
    return list(
        db.session.scalars(
            select(CorrectionCase).where(CorrectionCase.invoice_id == invoice_id).order_by(CorrectionCase.id)
        )
    )


def cases_of_records(record_ids: list[int]) -> dict[int, CorrectionCase]:
    """The latest case of each usage record (for the booking's usage table)."""
    if not record_ids:
        return {}
    found: dict[int, CorrectionCase] = {}
    for case in db.session.scalars(
        select(CorrectionCase).where(CorrectionCase.usage_record_id.in_(record_ids)).order_by(CorrectionCase.id)
    ):
        found[case.usage_record_id or 0] = case
    return found


def pending_releases(user: User) -> dict[str, list[Invoice]]:
    """The invoices waiting for the release of the user's member, by month (newest first)."""
    rows = db.session.scalars(
        select(Invoice)
        .where(
            Invoice.buyer_id == user.member_id,
            Invoice.type_code == DocumentType.INVOICE,
            Invoice.release_status.in_([ReleaseStatus.PENDING, ReleaseStatus.OBJECTED]),
        )
        .order_by(Invoice.period.desc(), Invoice.id)
    )
    months: dict[str, list[Invoice]] = {}
    for invoice in rows:
        months.setdefault(invoice.period, []).append(invoice)
    return months


def pending_of_month(user: User, period: str) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.buyer_id == user.member_id,
                Invoice.period == period,
                Invoice.type_code == DocumentType.INVOICE,
                Invoice.release_status == ReleaseStatus.PENDING,
            )
            .order_by(Invoice.id)
        )
    )
