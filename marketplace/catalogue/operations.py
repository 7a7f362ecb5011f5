"""Writes on the catalogue. Every function flushes; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from marketplace.catalogue.models import (
    VAT_RATES,
    Category,
    PriceVersion,
    Service,
    ServiceStatus,
    Unit,
    VatCategory,
)
from marketplace.core.errors import InvalidInput, PermissionDenied
from marketplace.core.models import record_audit
from marketplace.core.money import to_cents
from marketplace.extensions import db
from marketplace.members.models import Role, User

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_UNIT_PRICE = Decimal("10000000.00")
MAX_CAPACITY = 1_000_000


@dataclass
class ServiceInput:
    """Validated fields of a service; None in an update means 'unchanged'."""

    title: str | None = None
    description: str | None = None
    category: str | None = None
    unit: Unit | None = None
    unit_price: Decimal | None = None
    vat_category: VatCategory | None = None
    vat_rate: Decimal | None = None
    capacity: int | None = None
    capacity_set: bool = False
    status: ServiceStatus | None = None


def _category(slug: str) -> Category:
    category = db.session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        raise InvalidInput.field("category", f"Unbekannte Kategorie „{slug}“.")
    return category


def _check_fields(data: ServiceInput) -> None:
    errors: dict[str, list[str]] = {}
    if data.title is not None and not (1 <= len(data.title.strip()) <= MAX_TITLE):
        errors["title"] = [f"Der Titel ist Pflicht und hat höchstens {MAX_TITLE} Zeichen."]
    if data.description is not None and len(data.description) > MAX_DESCRIPTION:
        errors["description"] = [f"Die Beschreibung hat höchstens {MAX_DESCRIPTION} Zeichen."]
    if data.unit_price is not None:
        if data.unit_price < 0 or data.unit_price > MAX_UNIT_PRICE:
            errors["unit_price"] = ["Der Preis muss zwischen 0 und 10.000.000 € liegen."]
        elif data.unit_price.as_tuple().exponent < -2:  # type: ignore[operator]
            errors["unit_price"] = ["Der Preis hat höchstens zwei Nachkommastellen."]
    if data.capacity_set and data.capacity is not None and not (1 <= data.capacity <= MAX_CAPACITY):
        errors["capacity"] = ["Die Kapazität ist eine ganze Zahl ab 1 (leer für unbegrenzt)."]
    expected_rate = VAT_RATES.get(data.vat_category) if data.vat_category is not None else None
    if expected_rate is not None and data.vat_rate is not None and data.vat_rate != expected_rate:
        errors["vat_rate"] = [f"Zur Steuerkategorie {data.vat_category.value} gehört der Satz {expected_rate} %."]
    if errors:
        raise InvalidInput("Die Angaben zum Angebot sind unvollständig oder ungültig.", errors=errors)


def create_service(actor: User, data: ServiceInput) -> Service:
    """Publish or draft a service for the actor's member. Raises PermissionDenied or InvalidInput."""
    if Role.PROVIDER not in actor.roles:
        raise PermissionDenied("Nur Anbieter-Mitarbeitende können Leistungen anbieten.")
    missing = [
        name for name in ("title", "category", "unit", "unit_price", "vat_category") if getattr(data, name) is None
    ]
    if missing:
        raise InvalidInput("Pflichtangaben fehlen.", errors={name: ["Dieses Feld ist Pflicht."] for name in missing})
    if data.vat_rate is None:
        data.vat_rate = VAT_RATES[data.vat_category]  # type: ignore[index]
    _check_fields(data)
    service = Service(
        provider_id=actor.member_id,
        category=_category(data.category),  # type: ignore[arg-type]
        title=data.title.strip(),  # type: ignore[union-attr]
        description=(data.description or "").strip(),
        unit=data.unit,
        unit_price_cents=to_cents(data.unit_price),  # type: ignore[arg-type]
        vat_category=data.vat_category,
        vat_rate=data.vat_rate,
        capacity=data.capacity,
        status=data.status or ServiceStatus.PUBLISHED,
        created_by_id=actor.id,
    )
    db.session.add(service)
    db.session.flush()
    _new_price_version(service, actor)
    record_audit(actor, "service.created", service, member_id=actor.member_id, data={"title": service.title})
    return service


def _new_price_version(service: Service, actor: User) -> PriceVersion:
    version = PriceVersion(
        service_id=service.id,
        unit_price_cents=service.unit_price_cents,
        vat_category=service.vat_category,
        vat_rate=service.vat_rate,
        created_by_id=actor.id,
    )
    db.session.add(version)
    db.session.flush()
    return version


def update_service(actor: User, service: Service, data: ServiceInput) -> Service:
    """Change a service; a new price or tax treatment makes a new price version (bookings keep theirs)."""
    if not service.can_edit(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Leistung ändern.")
    category = data.vat_category or service.vat_category
    if data.vat_category is not None and data.vat_rate is None:
        data.vat_rate = VAT_RATES[data.vat_category]
    check = ServiceInput(**{**data.__dict__, "vat_category": category})
    _check_fields(check)
    before = {"unit_price_cents": service.unit_price_cents, "status": str(service.status)}
    if data.title is not None:
        service.title = data.title.strip()
    if data.description is not None:
        service.description = data.description.strip()
    if data.category is not None:
        service.category = _category(data.category)
    if data.unit is not None:
        service.unit = data.unit
    if data.capacity_set:
        service.capacity = data.capacity
    if data.status is not None:
        service.status = data.status
    price_changed = False
    if data.unit_price is not None and to_cents(data.unit_price) != service.unit_price_cents:
        service.unit_price_cents = to_cents(data.unit_price)
        price_changed = True
    if data.vat_category is not None and data.vat_category is not service.vat_category:
        service.vat_category = data.vat_category
        service.vat_rate = data.vat_rate  # type: ignore[assignment]
        price_changed = True
    db.session.flush()
    if price_changed:
        _new_price_version(service, actor)
    record_audit(
        actor,
        "service.updated",
        service,
        member_id=service.provider_id,
        data={"before": before, "after": {"unit_price_cents": service.unit_price_cents, "status": str(service.status)}},
    )
    return service
