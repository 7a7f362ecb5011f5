"""Service categories, managed by the operator: create, rename, reorder, retire and reactivate, delete if unused.

Every write takes the acting user, checks that it is an operator admin, flushes (the caller commits) and is
recorded in the audit trail with before and after. Category writes bump the catalogue's generation through
database triggers (migrations 0005 and 0009), so cached search results and facets show a change at once.

A category that services use is never deleted: it is retired, stays on those services and is no longer offered
for new ones. The slug, derived from the German name when the category is created, never changes: the API and
bookmarked searches use it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func, select

from marketplace.catalogue.models import Category, Service
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import User

MAX_NAME = 100
MAX_SLUG = 40
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"})
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class CategoryInUse(Conflict):
    """The category carries services and cannot be deleted; `count` says how many."""

    def __init__(self, category: Category, count: int) -> None:
        super().__init__(
            f"Die Kategorie „{category.name_de}“ wird von {count} "
            f"{'Leistung' if count == 1 else 'Leistungen'} verwendet und kann nicht gelöscht werden. "
            "Stellen Sie sie stattdessen ein: Sie bleibt an diesen Leistungen, wird aber nicht mehr angeboten."
        )
        self.count = count


# --- reads ---------------------------------------------------------------------------------------------


def _ordered() -> Any:
    return select(Category).order_by(Category.position, Category.slug, Category.id)


def category_overview() -> list[tuple[Category, int]]:
    """Every category in display order with the number of services (of any status) that carry it."""
    used = (
        select(func.count(Service.id)).where(Service.category_id == Category.id).correlate(Category).scalar_subquery()
    )
    return [(category, count) for category, count in db.session.execute(_ordered().add_columns(used))]


def offered_categories(keep_id: int | None = None) -> list[Category]:
    """The categories a service may be given: the active ones, plus the one it already has (`keep_id`)."""
    return [c for c in db.session.scalars(_ordered()) if c.retired_at is None or c.id == keep_id]


def services_using(category: Category) -> int:
    return db.session.scalar(select(func.count(Service.id)).where(Service.category_id == category.id)) or 0


def slug_for(name: str) -> str:
    """An ASCII key from a German name: umlauts spelled out, everything else but letters and digits a hyphen."""
    text = unicodedata.normalize("NFKD", name.translate(_UMLAUTS)).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "kategorie"


# --- writes --------------------------------------------------------------------------------------------


def _require_operator(actor: User) -> None:
    if not actor.is_operator_admin:
        raise PermissionDenied("Kategorien verwaltet nur der Betreiber.")


def _lock_all() -> list[Category]:
    """Every category in display order, locked: category writes then run one after another.

    PostgreSQL reads committed rows again after the lock is granted, so the uniqueness checks below see a
    category another operator created a moment earlier. SQLite runs each write transaction alone anyway.
    """
    return list(db.session.scalars(_ordered().with_for_update().execution_options(populate_existing=True)))


def _lock_with(category: Category) -> list[Category]:
    """`_lock_all()`, making sure `category` is still there (another operator may have just deleted it)."""
    categories = _lock_all()
    if not any(c.id == category.id for c in categories):
        raise NotFound("Diese Kategorie gibt es nicht mehr.")
    return categories


def _snapshot(category: Category) -> dict[str, object]:
    return {
        "slug": category.slug,
        "name_de": category.name_de,
        "name_en": category.name_en,
        "position": category.position,
        "retired": category.retired_at is not None,
    }


def _audit(actor: User, action: str, category: Category, before: object, after: object) -> None:
    record_audit(actor, action, category, member_id=actor.member_id, data={"before": before, "after": after})


def _clean(name: str | None) -> str:
    return " ".join((name or "").split())


def _check_names(name_de: str, name_en: str, others: list[Category]) -> None:
    """Both names given, at most MAX_NAME characters, and unique per language regardless of case."""
    errors: dict[str, list[str]] = {}
    for field, name, missing, taken in (
        (
            "name_de",
            name_de,
            "Bitte einen deutschen Namen angeben.",
            "Diesen deutschen Namen hat schon eine andere Kategorie.",
        ),
        (
            "name_en",
            name_en,
            "Bitte einen englischen Namen angeben.",
            "Diesen englischen Namen hat schon eine andere Kategorie.",
        ),
    ):
        if not name:
            errors[field] = [missing]
        elif len(name) > MAX_NAME:
            errors[field] = ["Der Name hat höchstens 100 Zeichen."]
        elif any(getattr(other, field).casefold() == name.casefold() for other in others):
            errors[field] = [taken]
    if errors:
        raise InvalidInput("Die Angaben zur Kategorie sind unvollständig oder ungültig.", errors=errors)


def _free_slug(name_de: str, taken: set[str]) -> str:
    base = slug_for(name_de)
    slug, number = base, 2
    while slug in taken:
        suffix = f"-{number}"
        slug = base[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
        number += 1
    return slug


def create_category(actor: User, name_de: str, name_en: str) -> Category:
    """Add a category at the end of the list. Raises PermissionDenied or InvalidInput (`name_de`, `name_en`)."""
    _require_operator(actor)
    name_de, name_en = _clean(name_de), _clean(name_en)
    existing = _lock_all()
    _check_names(name_de, name_en, existing)
    category = Category(
        slug=_free_slug(name_de, {c.slug for c in existing}),
        name_de=name_de,
        name_en=name_en,
        position=max((c.position for c in existing), default=-1) + 1,
    )
    db.session.add(category)
    db.session.flush()
    _audit(actor, "category.created", category, None, _snapshot(category))
    return category


def rename_category(actor: User, category: Category, name_de: str, name_en: str) -> Category:
    """Give the category new names (its slug stays). Raises PermissionDenied or InvalidInput."""
    _require_operator(actor)
    name_de, name_en = _clean(name_de), _clean(name_en)
    others = [c for c in _lock_with(category) if c.id != category.id]
    _check_names(name_de, name_en, others)
    if (category.name_de, category.name_en) == (name_de, name_en):
        return category
    before = _snapshot(category)
    category.name_de, category.name_en = name_de, name_en
    db.session.flush()
    _audit(actor, "category.renamed", category, before, _snapshot(category))
    return category


def move_category(actor: User, category: Category, offset: int) -> Category:
    """Move the category one place up (`offset` -1) or down (+1); positions are renumbered 0, 1, 2, …

    Raises PermissionDenied, or Conflict when it already stands first or last.
    """
    _require_operator(actor)
    ordered = _lock_with(category)
    index = next(i for i, c in enumerate(ordered) if c.id == category.id)
    target = index + (1 if offset > 0 else -1)
    if target < 0:
        raise Conflict("Die Kategorie steht schon an erster Stelle.")
    if target >= len(ordered):
        raise Conflict("Die Kategorie steht schon an letzter Stelle.")
    before = [c.slug for c in ordered]
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
    db.session.flush()
    _audit(actor, "category.moved", category, {"order": before}, {"order": [c.slug for c in ordered]})
    return category


def _ensure_one_offered(category: Category, categories: list[Category]) -> None:
    if not any(c.retired_at is None for c in categories if c.id != category.id):
        raise Conflict("Mindestens eine Kategorie muss angeboten bleiben.")


def retire_category(actor: User, category: Category) -> Category:
    """Stop offering the category for new services; services that carry it keep it.

    Raises PermissionDenied, or Conflict when it is already retired or the last one offered.
    """
    _require_operator(actor)
    categories = _lock_with(category)
    if category.retired_at is not None:
        raise Conflict("Die Kategorie ist bereits eingestellt.")
    _ensure_one_offered(category, categories)
    before = _snapshot(category)
    category.retired_at = utcnow()
    db.session.flush()
    _audit(actor, "category.retired", category, before, _snapshot(category))
    return category


def reactivate_category(actor: User, category: Category) -> Category:
    """Offer a retired category again. Raises PermissionDenied, or Conflict when it is offered already."""
    _require_operator(actor)
    _lock_with(category)
    if category.retired_at is None:
        raise Conflict("Die Kategorie wird bereits angeboten.")
    before = _snapshot(category)
    category.retired_at = None
    db.session.flush()
    _audit(actor, "category.reactivated", category, before, _snapshot(category))
    return category


def delete_category(actor: User, category: Category) -> None:
    """Delete a category no service carries.

    Raises PermissionDenied, NotFound, CategoryInUse (a Conflict), or Conflict for the last one offered.
    """
    _require_operator(actor)
    categories = _lock_with(category)
    count = services_using(category)
    if count:
        raise CategoryInUse(category, count)
    if category.retired_at is None:
        _ensure_one_offered(category, categories)
    _audit(actor, "category.deleted", category, _snapshot(category), None)
    db.session.delete(category)
    db.session.flush()
