"""Request bodies of the API as pydantic models, and the JSON shapes of responses.

Money travels as a decimal string with two places; dates as ISO 8601.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service, ServiceStatus, Unit, VatCategory
from marketplace.core.errors import InvalidInput
from marketplace.core.money import cents_to_str

MoneyStr = Annotated[str, StringConstraints(pattern=r"^\d{1,8}(\.\d{1,2})?$")]
VatRateStr = Annotated[str, StringConstraints(pattern=r"^(19\.00|0\.00|19|0)$")]
PeriodStr = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
CategorySlug = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceCreate(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    category: CategorySlug
    unit: Unit
    unit_price: MoneyStr
    vat_category: VatCategory
    vat_rate: VatRateStr | None = None
    capacity: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    status: ServiceStatus = ServiceStatus.PUBLISHED


class ServiceUpdate(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    category: CategorySlug | None = None
    unit: Unit | None = None
    unit_price: MoneyStr | None = None
    vat_category: VatCategory | None = None
    vat_rate: VatRateStr | None = None
    capacity: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    status: ServiceStatus | None = None


class BookingCreate(Strict):
    service_id: Annotated[StrictInt, Field(ge=1)]
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    starts_on: date
    ends_on: date | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class DeclineBody(Strict):
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class BillingRunCreate(Strict):
    period: PeriodStr


def parse_body(model: type[Strict], raw: bytes) -> Any:
    """Validate a JSON body; InvalidInput naming each bad field (``body`` for broken JSON)."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for item in exc.errors():
            if item["type"] == "json_invalid":
                errors.setdefault("body", []).append("Der Inhalt ist kein gültiges JSON.")
                continue
            if item["type"] == "model_type":
                errors.setdefault("body", []).append("Der Inhalt muss ein JSON-Objekt sein.")
                continue
            name = ".".join(str(part) for part in item["loc"]) or "body"
            errors.setdefault(name, []).append(item["msg"])
        raise InvalidInput("Die Anfrage enthält ungültige Felder.", errors=errors) from None


def decimal_or_none(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def service_json(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "title": service.title,
        "description": service.description,
        "category": service.category.slug,
        "unit": service.unit.value,
        "unit_price": cents_to_str(service.unit_price_cents),
        "vat_category": service.vat_category.value,
        "vat_rate": f"{service.vat_rate:.2f}",
        "capacity": service.capacity,
        "status": service.status.value,
        "provider": {"id": service.provider.id, "name": service.provider.name},
    }


def booking_json(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "service_id": booking.service_id,
        "buyer": {"id": booking.buyer.id, "name": booking.buyer.name},
        "quantity": booking.quantity,
        "starts_on": booking.starts_on.isoformat(),
        "ends_on": booking.ends_on.isoformat() if booking.ends_on else None,
        "status": booking.status.value,
        "unit_price": cents_to_str(booking.unit_price_cents) if booking.unit_price_cents is not None else None,
        "note": booking.note,
    }
