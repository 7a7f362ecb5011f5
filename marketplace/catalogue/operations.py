"""Writes on the catalogue. Every function flushes; the caller commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from marketplace.catalogue.models import (
    PUBLIC_LAW_KINDS,
    VAT_RATES,
    Category,
    PriceVersion,
    Service,
    ServiceDocument,
    ServiceStatus,
    TaxReason,
    Unit,
    VatCategory,
)
from marketplace.core.errors import InvalidInput, PermissionDenied
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.money import to_cents
from marketplace.core.timeutil import today, utcnow
from marketplace.extensions import db
from marketplace.members.models import Role, User

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_UNIT_PRICE = Decimal("10000000.00")
MAX_CAPACITY = 1_000_000
MAX_MINIMUM_TERM_MONTHS = 120
MAX_NOTICE_DAYS = 730
MAX_RESPONSE_HOURS = 8_760
DEFAULT_O_LEGAL_BASIS = "§ 2b Abs. 3 Nr. 2 UStG"
_VATEX_RE = re.compile(r"^VATEX-EU-[A-Z0-9]+(?:-[A-Z0-9]+)*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Fields of a service shown in the audit trail's before/after.
AUDITED_FIELDS = (
    "title",
    "status",
    "unit_price_cents",
    "vat_category",
    "capacity",
    "minimum_term_months",
    "notice_period_days",
    "sla_availability",
    "sla_support_hours",
    "sla_response_hours",
    "tax_legal_basis",
    "tax_reasons",
    "vatex_code",
)


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
    minimum_term_months: int | None = None
    notice_period_days: int | None = None
    #: SLA; `sla_set` says the three SLA fields below were sent (None then clears them).
    sla_availability: Decimal | None = None
    sla_support_hours: str | None = None
    sla_response_hours: int | None = None
    sla_set: bool = False
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    tax_legal_basis: str | None = None
    tax_reasons: list[TaxReason] | None = None
    tax_reasoning: str | None = None
    vatex_code: str | None = None
    #: A new price applies from this day (None or today: at once; later: scheduled as a price version).
    price_valid_from: date | None = None


def _category(slug: str, keep_id: int | None = None) -> Category:
    """The category with this slug, share-locked so that it cannot be deleted meanwhile.

    A retired category is refused unless the service has it already (`keep_id`).
    """
    category = db.session.scalar(locked(select(Category).where(Category.slug == slug), read=True))
    if category is None:
        raise InvalidInput.field("category", "Unbekannte Kategorie „%(slug)s“.", slug=slug)
    if category.retired_at is not None and category.id != keep_id:
        raise InvalidInput.field("category", "Diese Kategorie wird nicht mehr angeboten; bitte eine andere wählen.")
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
    if data.minimum_term_months is not None and not (0 <= data.minimum_term_months <= MAX_MINIMUM_TERM_MONTHS):
        errors["minimum_term_months"] = [f"Die Mindestlaufzeit liegt zwischen 0 und {MAX_MINIMUM_TERM_MONTHS} Monaten."]
    if data.notice_period_days is not None and not (0 <= data.notice_period_days <= MAX_NOTICE_DAYS):
        errors["notice_period_days"] = [f"Die Kündigungsfrist liegt zwischen 0 und {MAX_NOTICE_DAYS} Tagen."]
    if data.sla_availability is not None:
        if not (Decimal(0) <= data.sla_availability <= Decimal(100)):
            errors["sla_availability"] = ["Die Verfügbarkeit ist ein Prozentwert zwischen 0 und 100."]
        elif data.sla_availability.as_tuple().exponent < -2:  # type: ignore[operator]
            errors["sla_availability"] = ["Die Verfügbarkeit hat höchstens zwei Nachkommastellen."]
    if data.sla_response_hours is not None and not (1 <= data.sla_response_hours <= MAX_RESPONSE_HOURS):
        errors["sla_response_hours"] = [f"Die Reaktionszeit liegt zwischen 1 und {MAX_RESPONSE_HOURS} Stunden."]
    if data.sla_support_hours is not None and len(data.sla_support_hours) > 200:
        errors["sla_support_hours"] = ["Die Servicezeiten haben höchstens 200 Zeichen."]
    if data.contact_email and not _EMAIL_RE.match(data.contact_email.strip()):
        errors["contact_email"] = ["Das ist keine gültige E-Mail-Adresse."]
    for name, limit in (("contact_name", 200), ("contact_phone", 40), ("tax_legal_basis", 200)):
        value = getattr(data, name)
        if value is not None and len(value) > limit:
            errors[name] = [f"Höchstens {limit} Zeichen."]
    if data.vatex_code and not _VATEX_RE.match(data.vatex_code.strip().upper()):
        errors["vatex_code"] = ["Der VATEX-Code hat die Form VATEX-EU-…, z. B. VATEX-EU-132."]
    if errors:
        raise InvalidInput("Die Angaben zum Angebot sind unvollständig oder ungültig.", errors=errors)


def _check_tax(
    provider_kind: object, category: VatCategory, data: ServiceInput, *, current_vatex: str | None = None
) -> None:
    """§ 2b UStG: only legal persons under public law may offer O; E needs its exemption code (VATEX).

    The code is checked when the input sets the category or the code (`current_vatex`: the service's own),
    so that an older E service without one can still change its title or price.
    """
    if category is VatCategory.NOT_TAXABLE and provider_kind not in PUBLIC_LAW_KINDS:
        raise InvalidInput.field(
            "vat_category",
            "Nicht steuerbar nach § 2b UStG können nur juristische Personen des öffentlichen Rechts leisten; "
            "bitte S oder E wählen.",
        )
    if category is VatCategory.EXEMPT and (data.vat_category is not None or data.vatex_code is not None):
        code = (data.vatex_code if data.vatex_code is not None else current_vatex) or ""
        if not code.strip():
            raise InvalidInput.field("vatex_code", "Bei E bitte den Befreiungsgrund (VATEX-Code) angeben.")


def _check_publishable(
    status: ServiceStatus, category: VatCategory, legal_basis: str, reasons: list[TaxReason]
) -> None:
    """§ 2b UStG: a not-taxable (O) service is published only with its legal basis and reasons.

    A draft (or a paused or retired service) may lack them. Raises InvalidInput naming the missing fields.
    """
    if status is not ServiceStatus.PUBLISHED or category is not VatCategory.NOT_TAXABLE:
        return
    errors: dict[str, list[str]] = {}
    if not legal_basis.strip():
        errors["tax_legal_basis"] = ["Bitte die Rechtsgrundlage angeben; ohne sie lässt sich O nicht veröffentlichen."]
    if not reasons:
        errors["tax_reasons"] = ["Bitte mindestens einen Grund ankreuzen; ohne ihn lässt sich O nicht veröffentlichen."]
    if not errors:
        return
    if len(errors) == 2:
        detail = (
            "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn Rechtsgrundlage und Begründung "
            "der Nicht-Steuerbarkeit angegeben sind. Als Entwurf können Sie sie ohne diese Angaben speichern."
        )
    elif "tax_reasons" in errors:
        detail = (
            "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn die Begründung der "
            "Nicht-Steuerbarkeit angegeben ist. Als Entwurf können Sie sie ohne diese Angabe speichern."
        )
    else:
        detail = (
            "Eine nicht steuerbare Leistung (O) lässt sich erst veröffentlichen, wenn die Rechtsgrundlage "
            "angegeben ist. Als Entwurf können Sie sie ohne diese Angabe speichern."
        )
    raise InvalidInput(detail, errors=errors)


def _apply_details(service: Service, data: ServiceInput) -> None:
    """Copy the optional detail fields that were given (None leaves a field unchanged)."""
    for name in ("minimum_term_months", "notice_period_days"):
        value = getattr(data, name)
        if value is not None:
            setattr(service, name, value)
    if data.sla_set:
        service.sla_availability = data.sla_availability
        service.sla_support_hours = (data.sla_support_hours or "").strip()
        service.sla_response_hours = data.sla_response_hours
    for name in ("contact_name", "contact_email", "contact_phone", "tax_legal_basis", "tax_reasoning"):
        value = getattr(data, name)
        if value is not None:
            setattr(service, name, value.strip())
    if data.tax_reasons is not None:
        service.tax_reasons = ",".join(sorted({TaxReason(r).value for r in data.tax_reasons}))
    if data.vatex_code is not None:
        service.vatex_code = data.vatex_code.strip().upper() or None
    if service.vat_category is VatCategory.NOT_TAXABLE:
        service.vatex_code = None
        if not service.tax_legal_basis:
            service.tax_legal_basis = DEFAULT_O_LEGAL_BASIS
    elif service.vat_category is VatCategory.STANDARD:
        service.vatex_code = None
        service.tax_reasons = ""


def _snapshot(service: Service) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in AUDITED_FIELDS:
        value = getattr(service, name)
        values[name] = value if value is None or isinstance(value, int | str) else str(value)
    return values


def create_service(actor: User, data: ServiceInput, *, require_tax_reasons: bool = False) -> Service:
    """Publish or draft a service for the actor's member. Raises PermissionDenied or InvalidInput.

    `require_tax_reasons`: publishing as O needs the § 2b reasons. The pages and the API pass True; False is
    for callers that create services from trusted data (the demo seed, tests of other areas).
    """
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
    _check_tax(actor.member.kind, data.vat_category, data)  # type: ignore[arg-type]
    if require_tax_reasons:
        _check_publishable(
            data.status or ServiceStatus.PUBLISHED,
            data.vat_category,  # type: ignore[arg-type]
            (data.tax_legal_basis or "").strip() or DEFAULT_O_LEGAL_BASIS,
            data.tax_reasons or [],
        )
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
        minimum_term_months=0,
        notice_period_days=0,
        sla_support_hours="",
        contact_name="",
        contact_email="",
        contact_phone="",
        tax_legal_basis="",
        tax_reasons="",
        tax_reasoning="",
    )
    _apply_details(service, data)
    db.session.add(service)
    db.session.flush()
    _new_price_version(service, actor)
    record_audit(
        actor, "service.created", service, member_id=actor.member_id, data={"before": None, "after": _snapshot(service)}
    )
    return service


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


def _new_price_version(
    service: Service,
    actor: User,
    *,
    unit_price_cents: int | None = None,
    valid_from: date | None = None,
) -> PriceVersion:
    """Record a price from now, or scheduled from a later day; the previous version ends when it starts."""
    scheduled = valid_from is not None and valid_from > today()
    version = PriceVersion(
        service_id=service.id,
        unit_price_cents=service.unit_price_cents if unit_price_cents is None else unit_price_cents,
        vat_category=service.vat_category,
        vat_rate=service.vat_rate,
        valid_from=_start_of(valid_from) if scheduled else utcnow(),  # type: ignore[arg-type]
        created_by_id=actor.id,
    )
    db.session.add(version)
    db.session.flush()
    _chain_validity(service.id)
    return version


def _chain_validity(service_id: int) -> None:
    """Each version is valid until the next one (by start) begins; a scheduled one may replace another."""
    versions = list(
        db.session.scalars(
            select(PriceVersion)
            .where(PriceVersion.service_id == service_id)
            .order_by(PriceVersion.valid_from, PriceVersion.id)
        )
    )
    for current, following in zip(versions, [*versions[1:], None], strict=True):
        current.valid_until = following.valid_from if following is not None else None
    db.session.flush()


def apply_due_prices() -> int:
    """Make scheduled price versions that have begun the services' current prices; returns how many changed."""
    from marketplace.catalogue.queries import current_price_version

    changed = 0
    for service in db.session.scalars(
        select(Service).where(Service.id.in_(select(PriceVersion.service_id).where(PriceVersion.valid_until.is_(None))))
    ):
        version = current_price_version(service.id)
        if version is not None and version.unit_price_cents != service.unit_price_cents:
            service.unit_price_cents = version.unit_price_cents
            changed += 1
    db.session.flush()
    return changed


def update_service(actor: User, service: Service, data: ServiceInput, *, require_tax_reasons: bool = False) -> Service:
    """Change a service; a new price or tax treatment makes a new price version (bookings keep theirs).

    `require_tax_reasons` as in `create_service`: the result, if published as O, must carry the § 2b reasons.
    """
    if not service.can_edit(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Leistung ändern.")
    category = data.vat_category or service.vat_category
    if data.vat_category is not None and data.vat_rate is None:
        data.vat_rate = VAT_RATES[data.vat_category]
    check = ServiceInput(**{**data.__dict__, "vat_category": category})
    _check_fields(check)
    _check_tax(service.provider.kind, category, data, current_vatex=service.vatex_code)
    if require_tax_reasons:
        legal_basis = data.tax_legal_basis if data.tax_legal_basis is not None else service.tax_legal_basis
        _check_publishable(
            data.status or service.status,
            category,
            legal_basis.strip() or DEFAULT_O_LEGAL_BASIS,
            data.tax_reasons if data.tax_reasons is not None else service.tax_reason_list,
        )
    before = _snapshot(service)
    if data.title is not None:
        service.title = data.title.strip()
    if data.description is not None:
        service.description = data.description.strip()
    if data.category is not None and data.category != service.category.slug:
        service.category = _category(data.category, keep_id=service.category_id)
    if data.unit is not None:
        service.unit = data.unit
    if data.capacity_set:
        service.capacity = data.capacity
    if data.status is not None:
        service.status = data.status
    price_changed = False
    scheduled = data.price_valid_from is not None and data.price_valid_from > today()
    new_price = to_cents(data.unit_price) if data.unit_price is not None else None
    if new_price is not None and new_price != service.unit_price_cents and not scheduled:
        service.unit_price_cents = new_price
        price_changed = True
    if data.vat_category is not None and data.vat_category is not service.vat_category:
        service.vat_category = data.vat_category
        service.vat_rate = data.vat_rate  # type: ignore[assignment]
        price_changed = True
    _apply_details(service, data)
    db.session.flush()
    if price_changed:
        _new_price_version(service, actor)
    if scheduled and new_price is not None:
        _new_price_version(service, actor, unit_price_cents=new_price, valid_from=data.price_valid_from)
    record_audit(
        actor,
        "service.updated",
        service,
        member_id=service.provider_id,
        data={"before": before, "after": _snapshot(service)},
    )
    return service


def set_service_status(actor: User, service: Service, status: ServiceStatus) -> Service:
    """Publish, pause, retire or return a service to draft. Existing bookings are not affected.

    Publishing a not-taxable (O) service needs its § 2b reasons (InvalidInput otherwise).
    """
    return update_service(actor, service, ServiceInput(status=status), require_tax_reasons=True)


MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_DOCUMENTS = 20


def add_document(actor: User, service: Service, title: str, filename: str, content: bytes) -> ServiceDocument:
    """Attach a PDF to the service. The type is checked by content (a PDF header and trailer), not by name.

    Raises PermissionDenied or InvalidInput naming `file` or `title`.
    """
    import hashlib

    from werkzeug.utils import secure_filename

    if not service.can_edit(actor):
        raise PermissionDenied("Nur der Anbieter kann Unterlagen hochladen.")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput.field("title", "Bitte eine Bezeichnung mit höchstens 200 Zeichen angeben.")
    if not content:
        raise InvalidInput.field("file", "Bitte eine PDF-Datei auswählen.")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput.field("file", "Die Datei ist zu groß: höchstens 5 MB.")
    if not content.startswith(b"%PDF-") or b"%%EOF" not in content[-2048:]:
        raise InvalidInput.field("file", "Nur PDF-Dateien sind erlaubt; diese Datei ist kein PDF.")
    if len(service.documents) >= MAX_DOCUMENTS:
        raise InvalidInput.field(
            "file", "Eine Leistung hat höchstens %(max_documents)s Unterlagen.", max_documents=MAX_DOCUMENTS
        )
    safe_name = secure_filename(filename or "") or "unterlage.pdf"
    if not safe_name.lower().endswith(".pdf"):
        safe_name += ".pdf"
    document = ServiceDocument(
        service_id=service.id,
        title=title,
        filename=safe_name[:200],
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        uploaded_by_id=actor.id,
    )
    db.session.add(document)
    db.session.flush()
    record_audit(
        actor,
        "service.document_added",
        document,
        member_id=service.provider_id,
        data={"service_id": service.id, "title": title, "size_bytes": len(content), "sha256": document.sha256},
    )
    return document
