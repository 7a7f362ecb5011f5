"""Reads on the catalogue."""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from marketplace.catalogue.models import Category, PriceVersion, Service, ServiceStatus
from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.members.models import Member, User


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.slug)))


def catalogue_statement(q: str | None = None, category: str | None = None, provider_id: int | None = None) -> Select:
    """Published services matching the search words (title, description, provider), newest first."""
    statement = (
        select(Service)
        .join(Member, Member.id == Service.provider_id)
        .join(Category, Category.id == Service.category_id)
        .where(Service.status == ServiceStatus.PUBLISHED)
    )
    for word in (q or "").split()[:8]:
        pattern = f"%{word.replace('%', '').replace('_', '')}%"
        statement = statement.where(
            or_(Service.title.ilike(pattern), Service.description.ilike(pattern), Member.name.ilike(pattern))
        )
    if category:
        statement = statement.where(Category.slug == category)
    if provider_id is not None:
        statement = statement.where(Service.provider_id == provider_id)
    return statement.order_by(Service.id.desc())


def own_services_statement(member_id: int) -> Select:
    return select(Service).where(Service.provider_id == member_id).order_by(Service.id.desc())


def service_for(user: User, service_id: int) -> Service:
    """The service if the user may see it; NotFound otherwise (drafts of others are not revealed)."""
    service = db.session.get(Service, service_id)
    if service is None or not service.can_view(user):
        raise NotFound("Diese Leistung gibt es nicht.")
    return service


def current_price_version(service_id: int) -> PriceVersion | None:
    return db.session.scalar(
        select(PriceVersion).where(PriceVersion.service_id == service_id).order_by(PriceVersion.id.desc()).limit(1)
    )
