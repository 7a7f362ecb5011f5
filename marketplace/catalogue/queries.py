"""Reads on the catalogue: the search behind `/services` and `GET /api/v1/services`, facets, one service.

Full-text search uses the `services_fts` index that database triggers keep in sync (migration 0005): on
PostgreSQL a tsvector per service in the German configuration (GIN index), on SQLite an FTS5 table. Every
word of the query must match, as a prefix, in the title, the provider's name or the description.

Search results (ids and total), facets and the rendered answers built from them (the search page's form and
result list, the API's JSON) are cached per process, keyed by the catalogue's generation, a counter that
triggers bump on every write to services, members and categories (`services_fts_generation`). A cached
result is therefore never stale: a write changes the key. Reading the generation is one primary-key lookup;
without the row nothing is cached.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import ColumnElement, Select, and_, column, func, literal_column, or_, select, table, tuple_

from marketplace.catalogue.models import Category, PriceVersion, Service, ServiceStatus, Unit
from marketplace.core.errors import NotFound
from marketplace.core.pagination import Page, paginate
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, User

#: How results can be ordered; `relevance` needs search words (otherwise it falls back to `newest`).
SORTS = ("relevance", "newest", "price_asc", "price_desc", "title")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 8

_pg_fts = table("services_fts", column("service_id"), column("document"))
_sqlite_fts = table("services_fts", column("rowid"), column("rank"))


_generation_table = table("services_fts_generation", column("id"), column("generation"))


def catalogue_generation(*, fresh: bool = False) -> int | None:
    """The catalogue's current generation, or None when it cannot be read (then nothing is cached).

    Read once per request (kept on `g`): a page's results and facets then come from the same generation.
    """
    if not fresh and has_request_context() and "catalogue_generation" in g:
        return g.catalogue_generation
    value = db.session.scalar(select(_generation_table.c.generation).where(_generation_table.c.id == 1))
    if has_request_context():
        g.catalogue_generation = value
    return value


class GenerationCache:
    """A per-process LRU of values that depend only on the catalogue (and the key), keyed by its generation.

    Holds `CATALOGUE_CACHE_SIZE` (config or environment, default 2048) entries divided by `divisor`;
    0 switches every cache off.
    """

    def __init__(self, divisor: int = 1) -> None:
        self.divisor = divisor
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """The cached value for `key` in the current generation, computing and storing it when missing."""
        size = _cache_size() // self.divisor
        if size <= 0:
            return compute()
        generation = catalogue_generation()
        if generation is None:
            return compute()
        full_key = (str(db.engine.url), generation, *key)
        with self._lock:
            if full_key in self._entries:
                self._entries.move_to_end(full_key)
                return self._entries[full_key]
        value = compute()
        with self._lock:
            self._entries[full_key] = value
            while len(self._entries) > size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def size_now(self) -> int:
        return len(self._entries)


def _cache_size() -> int:
    value = current_app.config.get("CATALOGUE_CACHE_SIZE")
    if value in (None, ""):
        value = os.environ.get("CATALOGUE_CACHE_SIZE")
    return 2048 if value in (None, "") else int(value)


#: Search results (ids and total) and facets: small entries.
results_cache = GenerationCache()
#: Rendered search forms with their results and API answers (tens of kilobytes each): a quarter as many.
rendered_cache = GenerationCache(divisor=4)


def clear_caches() -> None:
    """Forget every cached search (tests that recreate a database with the same URL call this)."""
    results_cache.clear()
    rendered_cache.clear()


def catalogue_page(statement: Select, page: int, per_page: int) -> Page:
    """`paginate(catalogue_statement(...))` with the ids and total cached by the catalogue's generation."""
    search = statement.get_execution_options().get("catalogue_search")
    if search is None:  # a statement not made by catalogue_statement: key by its SQL (slower to build)
        compiled = statement.compile(db.engine)
        search = (str(compiled), tuple(sorted((k, str(v)) for k, v in compiled.params.items())))
    key = ("page", search, page, per_page)

    def compute() -> tuple[int, list[int]]:
        # one query for the page and the total (a window count over all matches); a page past the end
        # has no rows to carry the total, so only then is it counted on its own
        rows = db.session.execute(
            statement.with_only_columns(Service.id, func.count().over()).limit(per_page).offset((page - 1) * per_page)
        ).all()
        if rows:
            return rows[0][1], [row[0] for row in rows]
        return paginate(statement.with_only_columns(Service.id), page, per_page).total, []

    total, ids = results_cache.get(key, compute)
    services = {s.id: s for s in db.session.scalars(select(Service).where(Service.id.in_(ids)))} if ids else {}
    return Page(items=[services[i] for i in ids if i in services], page=page, per_page=per_page, total=total)


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.slug)))


def search_words(q: str | None) -> list[str]:
    return _WORD_RE.findall((q or "").lower())[:MAX_WORDS]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _matches(words: list[str]) -> tuple[Any, ColumnElement[Any] | None]:
    """A subquery of (service id, score) matching all words; the score orders by relevance (higher first)."""
    if _dialect() == "postgresql":
        query = func.to_tsquery("german", " & ".join(f"{word}:*" for word in words))
        subquery = (
            select(
                _pg_fts.c.service_id.label("service_id"),
                func.ts_rank(_pg_fts.c.document, query).label("score"),
            )
            .where(_pg_fts.c.document.op("@@")(query))
            .subquery("matches")
        )
        return subquery, subquery.c.score
    match = " ".join(f'"{word}"*' for word in words)
    subquery = (
        select(_sqlite_fts.c.rowid.label("service_id"), (-_sqlite_fts.c.rank).label("score"))
        .where(literal_column("services_fts").op("MATCH")(match))
        .subquery("matches")
    )
    return subquery, subquery.c.score


#: The words people search units by (German and English names as the pages show them), lower case.
UNIT_WORDS: dict[Unit, tuple[str, ...]] = {
    Unit.MONTH: ("monat", "monatlich", "month", "monthly"),
    Unit.HOUR: ("stunde", "stunden", "hour", "hours"),
    Unit.PIECE: ("stück", "piece", "pieces"),
    Unit.GB_MONTH: ("gb", "gb-monat", "gigabyte", "gb-month"),
    Unit.USER_MONTH: ("nutzer", "nutzer-monat", "user", "user-month"),
}


def _name_words(*names: str) -> set[str]:
    return {word for name in names for word in _WORD_RE.findall(name.lower())}


def _vocabulary() -> list[tuple[int, frozenset[str]]]:
    """(category id, the words of its German and English names and its slug), cached with the catalogue."""
    rows = db.session.execute(select(Category.id, Category.name_de, Category.name_en, Category.slug)).all()
    return [(row.id, frozenset(_name_words(row.name_de, row.name_en, row.slug))) for row in rows]


def _word_condition(word: str) -> ColumnElement[bool] | None:
    """Services whose category or unit a search word names ("Hosting", "Beratung", "Stunde"), or None."""
    categories = [
        category_id
        for category_id, words in results_cache.get(("vocabulary",), _vocabulary)
        if any(name.startswith(word) for name in words)
    ]
    units = [unit for unit, names in UNIT_WORDS.items() if any(part.startswith(word) for part in _name_words(*names))]
    if not categories and not units:
        return None
    conditions = []
    if categories:
        conditions.append(Service.category_id.in_(categories))
    if units:
        conditions.append(Service.unit.in_(units))
    matches, _score = _matches([word])
    return or_(*conditions, Service.id.in_(select(matches.c.service_id)))


@dataclass(frozen=True)
class CatalogueFilters:
    """The catalogue's filters as the page and the API pass them (None means 'any')."""

    q: str | None = None
    category: str | None = None
    provider_id: int | None = None
    unit: Unit | None = None
    price_min_cents: int | None = None
    price_max_cents: int | None = None
    sla_min: Decimal | None = None


#: The filters that are also facets: each facet counts as if its own filter were unset.
FACETS = ("category", "provider", "unit", "sla", "price")

#: Price bands offered as a facet, in cents: (from, up to and including); None is open-ended.
PRICE_BANDS: tuple[tuple[int, int | None], ...] = ((0, 9_999), (10_000, 99_999), (100_000, 999_999), (1_000_000, None))
#: The band of a service's unit price (0 to 3). Literal SQL on purpose: PostgreSQL matches the expression in
#: SELECT with the one in GROUPING SETS by its text, which bound parameters would make differ.
_PRICE_BAND = literal_column(
    "CASE "
    + " ".join(
        f"WHEN services.unit_price_cents <= {upper} THEN {index}"
        for index, (_lower, upper) in enumerate(PRICE_BANDS)
        if upper is not None
    )
    + f" ELSE {len(PRICE_BANDS) - 1} END"
)


def _facet_conditions(filters: CatalogueFilters) -> dict[str, ColumnElement[bool]]:
    conditions: dict[str, ColumnElement[bool]] = {}
    if filters.category:
        conditions["category"] = Category.slug == filters.category
    if filters.provider_id is not None:
        conditions["provider"] = Service.provider_id == filters.provider_id
    if filters.unit is not None:
        conditions["unit"] = Service.unit == filters.unit
    if filters.sla_min is not None:
        conditions["sla"] = Service.sla_availability >= filters.sla_min
    price = []
    if filters.price_min_cents is not None:
        price.append(Service.unit_price_cents >= filters.price_min_cents)
    if filters.price_max_cents is not None:
        price.append(Service.unit_price_cents <= filters.price_max_cents)
    if price:
        conditions["price"] = and_(*price)
    return conditions


def _filtered(filters: CatalogueFilters, *, skip: Iterable[str] = ()) -> tuple[Select, ColumnElement[Any] | None]:
    """Published services matching the words and the facet filters (price range included) not in `skip`."""
    statement = (
        select(Service)
        .join(Member, Member.id == Service.provider_id)
        .join(Category, Category.id == Service.category_id)
        .where(Service.status == ServiceStatus.PUBLISHED)
    )
    score = None
    words = search_words(filters.q)
    # a word naming a category or unit also finds the services in it, whether or not their text says it
    named = {word: condition for word in words if (condition := _word_condition(word)) is not None}
    for condition in named.values():
        statement = statement.where(condition)
    text_words = [word for word in words if word not in named]
    if text_words:
        matches, score = _matches(text_words)
        statement = statement.join(matches, matches.c.service_id == Service.id)
    for name, condition in _facet_conditions(filters).items():
        if name not in skip:
            statement = statement.where(condition)
    return statement, score


def catalogue_statement(
    q: str | None = None,
    category: str | None = None,
    provider_id: int | None = None,
    *,
    unit: Unit | None = None,
    price_min_cents: int | None = None,
    price_max_cents: int | None = None,
    sla_min: Decimal | None = None,
    sort: str | None = None,
) -> Select:
    """Published services matching the search words and filters, in the chosen order.

    Without `sort`, results with search words come by relevance, others newest first; ties by id.
    """
    filters = CatalogueFilters(q, category, provider_id, unit, price_min_cents, price_max_cents, sla_min)
    statement, score = _filtered(filters)
    sort = sort if sort in SORTS else ("relevance" if score is not None else "newest")
    # what the result depends on, as catalogue_page's cache key (cheaper than compiling the statement)
    statement = statement.execution_options(catalogue_search=(filters, sort))
    if sort == "relevance" and score is not None:
        return statement.order_by(score.desc(), Service.id.desc())
    if sort == "price_asc":
        return statement.order_by(Service.unit_price_cents, Service.id.desc())
    if sort == "price_desc":
        return statement.order_by(Service.unit_price_cents.desc(), Service.id.desc())
    if sort == "title":
        return statement.order_by(Service.title, Service.id)
    return statement.order_by(Service.id.desc())


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


#: SLA thresholds offered as a facet (at least this availability).
SLA_STEPS = (Decimal("99.9"), Decimal("99.5"), Decimal("99"), Decimal("95"))


def catalogue_facets(filters: CatalogueFilters, lang: str = "de") -> dict[str, list[FacetValue]]:
    """Counts per category, provider, unit and SLA step; each facet counts as if its own filter were unset."""
    return results_cache.get(("facets", filters, lang), lambda: _facets(filters, lang))


def _facet_groups(lang: str) -> dict[str, tuple[Any, ...]]:
    """The columns each facet groups by, in the order of FACETS."""
    name = Category.name_en if lang == "en" else Category.name_de
    return {
        "category": (Category.slug, name, Category.position),
        "provider": (Member.id, Member.name),
        "unit": (Service.unit,),
        "sla": (Service.sla_availability,),
        "price": (_PRICE_BAND,),
    }


def _facets(filters: CatalogueFilters, lang: str) -> dict[str, list[FacetValue]]:
    groups = _facet_groups(lang)
    if _dialect() == "postgresql":
        rows = _facet_rows_at_once(filters, groups)
    else:
        rows = {facet: _facet_rows(filters, facet, columns) for facet, columns in groups.items()}
    return {
        "category": [
            FacetValue(slug, label, n) for slug, label, _pos, n in sorted(rows["category"], key=lambda r: r[2])
        ],
        "provider": [FacetValue(str(pid), pname, n) for pid, pname, n in sorted(rows["provider"], key=lambda r: r[1])],
        "unit": [
            FacetValue(u.value, u.value, n) for u, n in sorted(rows["unit"], key=lambda r: list(Unit).index(r[0]))
        ],
        "sla": [
            FacetValue(str(step), str(step), sum(n for value, n in rows["sla"] if value is not None and value >= step))
            for step in SLA_STEPS
        ],
        "price": [FacetValue(str(band), str(band), n) for band, n in sorted(rows["price"])],
    }


def _facet_rows(filters: CatalogueFilters, facet: str, columns: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """(group values..., count) for one facet: one query, without the facet's own filter."""
    statement, _score = _filtered(filters, skip=(facet,))
    return [
        tuple(row) for row in db.session.execute(statement.with_only_columns(*columns, func.count()).group_by(*columns))
    ]


def _facet_rows_at_once(
    filters: CatalogueFilters, groups: dict[str, tuple[Any, ...]]
) -> dict[str, list[tuple[Any, ...]]]:
    """All four facets in one scan (PostgreSQL's GROUPING SETS) instead of four queries.

    The rows are those matching the words and the price range; each facet's count is filtered by the
    other facets' conditions (`count(*) FILTER (WHERE ...)`), and groups that count nothing are dropped,
    so the answer equals `_facet_rows` for each facet.
    """
    statement, _score = _filtered(filters, skip=FACETS)
    conditions = _facet_conditions(filters)
    counts = []
    for facet in groups:
        others = [condition for name, condition in conditions.items() if name != facet]
        counts.append(func.count().filter(and_(*others)) if others else func.count())
    columns = [column for group in groups.values() for column in group]
    markers = [func.grouping(group[0]) for group in groups.values()]
    statement = statement.with_only_columns(*columns, *markers, *counts).group_by(
        func.grouping_sets(*(tuple_(*group) for group in groups.values()))
    )
    rows: dict[str, list[tuple[Any, ...]]] = {facet: [] for facet in groups}
    for row in db.session.execute(statement):
        values = tuple(row)
        found = values[len(columns) : len(columns) + len(groups)]
        facet_counts = values[len(columns) + len(groups) :]
        offset = 0
        for index, (facet, group) in enumerate(groups.items()):
            if found[index] == 0 and facet_counts[index]:
                rows[facet].append((*values[offset : offset + len(group)], facet_counts[index]))
            offset += len(group)
    return rows


def own_services_statement(member_id: int) -> Select:
    return select(Service).where(Service.provider_id == member_id).order_by(Service.id.desc())


def service_for(user: User, service_id: int) -> Service:
    """The service if the user may see it; NotFound otherwise (drafts of others are not revealed)."""
    service = db.session.get(Service, service_id)
    if service is None or not service.can_view(user):
        raise NotFound("Diese Leistung gibt es nicht.")
    return service


def current_price_version(service_id: int) -> PriceVersion | None:
    """The version in force now (scheduled versions that have not begun are left out)."""
    return db.session.scalar(
        select(PriceVersion)
        .where(PriceVersion.service_id == service_id, PriceVersion.valid_from <= utcnow())
        .order_by(PriceVersion.valid_from.desc(), PriceVersion.id.desc())
        .limit(1)
    )


def price_history(service_id: int) -> list[PriceVersion]:
    """All versions, newest start first (scheduled ones included)."""
    return list(
        db.session.scalars(
            select(PriceVersion)
            .where(PriceVersion.service_id == service_id)
            .order_by(PriceVersion.valid_from.desc(), PriceVersion.id.desc())
        )
    )
