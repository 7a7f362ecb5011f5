"""Operations of the API: one decorator registers the Flask route and what the OpenAPI document says.

How to write an endpoint (e.g. in ``marketplace/api/ledger.py``)::

    from marketplace.api.blueprint import api_bp
    from marketplace.api.auth import api_user
    from marketplace.api.spec import operation, ApiModel, Money

    class ReverseBody(ApiModel):           # request bodies: extra fields are a 422
        reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    class TransferOut(ApiModel):           # responses: the document's schema AND the JSON's shape
        id: int
        amount: Money                      # "1234.50" (use money(cents) to make one)

    @operation(api_bp, "POST", "/ledger/transfers/<int:transfer_id>/reverse",
               body=ReverseBody, responses={201: TransferOut, 409: None},
               summary="Buchung stornieren", tags=["ledger"])
    def reverse_transfer(transfer_id: int, body: ReverseBody) -> tuple[dict, int]:
        user = api_user()
        ...call one operation (it flushes)...
        return {"id": reversal.id, "amount": money(reversal.amount_cents)}, 201

Rules the decorator enforces:

- ``body=Model`` parses the JSON body with ``parse_body`` and passes it as ``body=``; ``query=Model``
  validates the query string (strings converted as pydantic's lax mode does) and passes ``query=``. Bad
  input is a 422 problem naming the field.
- Unknown body fields and unknown query parameters are a 422 too (a GET without ``query=`` takes none);
  path ids above 2**31-1 are a 404.
- The view returns a model instance, a dict (validated against the response model of the status), a
  ``(value, status)`` or a ``(value, status, headers)`` tuple; the first 2xx of ``responses`` is the
  default status. A response model is validated on the way out, so the document cannot drift from
  behaviour. A view may also return a Flask ``Response`` as it is (for ``Raw("application/xml")``).
- Datetimes in models leave with an offset (naive ones, as SQLite returns them, count as UTC).
- ``responses={409: None}`` documents a problem+json error; 401/403 (with auth), 404 (path ids, or ids in
  body or query), 413/415 (with a body), 422 (with any input) and 429 are documented automatically.
- The decorator commits the session after the view returns (one commit per request, at the edge); views
  need not commit. Errors roll back (the app's error handler).
- POSTs take an ``Idempotency-Key`` header (see ``marketplace.api.idempotency``).
- ``auth=False`` marks a public operation (the document itself, the Stripe webhook which checks its own
  signature); ``links`` adds OpenAPI links for stateful clients:
  ``links={201: {"GetBooking": ("get_booking", {"booking_id": "$response.body#/id"})}}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import models_json_schema

from marketplace.core.errors import InvalidInput, NotFound
from marketplace.core.money import cents_to_str
from marketplace.extensions import db

API_PREFIX = "/api/v1"

#: A money amount as the API writes it: a decimal string with exactly two places.
Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["1234.50"])]


def money(cents: int) -> str:
    """Integer cents as the API's money string (``123450`` -> ``"1234.50"``)."""
    return cents_to_str(cents)


class UtcDatetimes(BaseModel):
    """Datetimes leave as RFC 3339 with an offset: naive ones (SQLite drops the zone) are UTC."""

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _datetimes_in_utc(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class ApiModel(UtcDatetimes):
    """Base of request bodies and responses: unknown fields are an error, text is stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QueryModel(BaseModel):
    """Base of query-string models: an unknown parameter is a 422 naming it (a typo never filters silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoQuery(QueryModel):
    """The query of a GET operation that declares none: every parameter is unknown, so a 422 naming it."""


class ProblemItem(BaseModel):
    """One thing that keeps a month from being closed."""

    model_config = ConfigDict(title="OutstandingItem")

    kind: str
    id: str | int
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details: the one error shape of the API."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(examples=["https://leistungsboerse.example/problems/validation"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: dict[str, list[str]] | None = Field(
        default=None, description="Bei 422: Fehlermeldungen je Feld (Feldname, bei Abfrageparametern ihr Name)."
    )
    outstanding: list[ProblemItem] | None = Field(
        default=None,
        description="Bei 409 eines Monatsabschlusses: was den Monat offen hält (kind: earlier_month_open, "
        "billing_run_unfinished, charge_missing, usage_in_review, usage_disputed).",
    )


@dataclass(frozen=True)
class Raw:
    """A response that is not JSON (e.g. XRechnung XML); the view returns a Flask ``Response``.

    ``download=True`` marks a file: the document offers it as ``media_type`` and as
    ``application/octet-stream`` (the view answers the latter to ``Accept: application/octet-stream``), so
    generated clients that only know JSON, text and binary bodies can still download it as bytes.
    """

    media_type: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    download: bool = False

    def content(self) -> dict[str, Any]:
        if not self.download:
            return {self.media_type: {"schema": self.schema}}
        return {
            self.media_type: {"schema": {"type": "string", "contentMediaType": self.media_type}},
            BINARY: {"schema": {"type": "string", "format": "binary"}},
        }


#: The media type of a download as bytes (see ``Raw.download``).
BINARY = "application/octet-stream"


@dataclass(frozen=True)
class RawBody:
    """A request body the view reads itself (e.g. a signed webhook), documented but not parsed."""

    media_type: str = "application/json"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    required: bool = True


ResponseSpec = type[BaseModel] | Raw | None


@dataclass
class Operation:
    method: str
    rule: str  # the Flask rule, relative to the blueprint prefix
    endpoint: str  # the Flask endpoint, e.g. "api.get_booking"
    operation_id: str
    summary: str
    description: str
    tags: list[str]
    body: type[BaseModel] | RawBody | None
    query: type[QueryModel] | None
    responses: dict[int, ResponseSpec]
    auth: bool
    links: dict[int, dict[str, tuple[str, dict[str, str]]]]
    path_params: dict[str, dict[str, Any]]

    @property
    def openapi_path(self) -> str:
        return API_PREFIX + _RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    @property
    def success_status(self) -> int:
        return min(status for status in self.responses if 200 <= status < 300)


#: Every operation of the API, in registration order (the document is generated from this).
REGISTRY: list[Operation] = []

_RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
#: Ids are 32-bit in the database; larger numbers in a path are simply not found.
MAX_ID = 2_147_483_647
_CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "string": {"type": "string"},
    None: {"type": "string"},
}


def public_endpoints() -> frozenset[str]:
    return frozenset(op.endpoint for op in REGISTRY if not op.auth)  # a handful: cheap enough per request


def operation(
    blueprint: Blueprint,
    method: str,
    rule: str,
    *,
    responses: dict[int, ResponseSpec],
    summary: str,
    body: type[BaseModel] | RawBody | None = None,
    query: type[QueryModel] | None = None,
    tags: list[str] | None = None,
    description: str = "",
    auth: bool = True,
    links: dict[int, dict[str, tuple[str, dict[str, str]]]] | None = None,
    path_params: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view`` on ``blueprint`` for ``method rule`` and record it for the OpenAPI document."""
    method = method.upper()
    if not any(200 <= status < 300 for status in responses):
        raise ValueError(f"{method} {rule}: responses need a 2xx status")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(
            method=method,
            rule=rule,
            endpoint=f"{blueprint.name}.{view.__name__}",
            operation_id=view.__name__,
            summary=summary,
            description=description or (view.__doc__ or "").strip(),
            tags=tags or [],
            body=body,
            query=query,
            responses=responses,
            auth=auth,
            links=links or {},
            path_params=path_params or {},
        )

        @wraps(view)
        def wrapper(**path_args: Any) -> Any:
            if any(isinstance(value, int) and value > MAX_ID for value in path_args.values()):
                raise NotFound("Das gibt es nicht.")
            kwargs: dict[str, Any] = dict(path_args)
            if isinstance(body, type):
                from marketplace.api.schemas import parse_body

                _require_json_content_type()
                kwargs["body"] = parse_body(body, request.get_data())
            if query is not None:
                kwargs["query"] = parse_query(query)
            elif method == "GET" and request.args:
                parse_query(NoQuery)
            if method == "POST":
                from marketplace.api.idempotency import idempotent

                response = idempotent(lambda: _to_response(op, view(**kwargs)))
            else:
                response = _to_response(op, view(**kwargs))
            db.session.commit()
            return response

        REGISTRY.append(op)
        blueprint.add_url_rule(rule, view_func=wrapper, methods=[method])
        return wrapper

    return decorate


def _require_json_content_type() -> None:
    if not request.get_data():
        return  # an empty body is validated as {} (the model says which fields are required)
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        from werkzeug.exceptions import UnsupportedMediaType

        raise UnsupportedMediaType("Bitte den Inhalt als „application/json“ senden.")


def parse_query(model: type[QueryModel]) -> Any:
    """Validate the query string against ``model``; InvalidInput naming each bad parameter."""
    values: dict[str, Any] = {}
    for name in request.args:
        items = request.args.getlist(name)
        values[name] = items[0] if len(items) == 1 else items
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for item in exc.errors():
            name = str(item["loc"][0]) if item["loc"] else "query"
            unknown = item["type"] == "extra_forbidden"
            errors.setdefault(name, []).append(
                "Diesen Abfrageparameter gibt es hier nicht." if unknown else item["msg"]
            )
        raise InvalidInput("Die Abfrageparameter sind ungültig.", errors=errors) from None


def _to_response(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status = op.success_status
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        if len(result) == 3:
            result, status, headers = result
        else:
            result, status = result
    spec = op.responses.get(status)
    if spec is None or isinstance(spec, Raw):
        raise RuntimeError(f"{op.operation_id} answered {status}, which its responses do not describe as JSON")
    model_instance = result if isinstance(result, spec) else spec.model_validate(result)
    response = jsonify(model_instance.model_dump(mode="json"))
    response.status_code = status
    for key, value in headers.items():
        response.headers[key] = value
    return response


# --- the OpenAPI document ----------------------------------------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"
_ERROR_TEXT = {
    400: "Die Anfrage ist fehlerhaft.",
    401: "Kein oder ein ungültiger Bearer-Token.",
    403: "Die Rolle oder der Token (nur lesen) erlaubt das nicht.",
    404: "Gibt es nicht oder gehört einem anderen Mitglied (das wird nicht verraten).",
    405: "Diese Methode gibt es für diesen Pfad nicht.",
    409: "Der Zustand erlaubt das nicht (Status, Kapazität, abgeschlossene Periode).",
    413: "Der Inhalt ist zu groß.",
    415: "Der Inhalt muss application/json sein.",
    422: "Ungültige Eingabe; errors nennt die Felder.",
    429: "Zu viele Anfragen; Retry-After nennt die Sekunden bis zum nächsten Versuch.",
}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_TEXT.get(status, "Fehler"),
        "content": {"application/problem+json": {"schema": {"$ref": _PROBLEM_REF}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Sekunden bis zum nächsten Versuch", "schema": {"type": "integer"}}
        }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def _default_errors(op: Operation) -> list[int]:
    statuses = [429]
    if op.body is not None or op.query is not None or op.method in ("GET", "POST") or _RULE_PARAM.search(op.rule):
        statuses.append(422)
    if op.auth:
        statuses += [401, 403]
    if _RULE_PARAM.search(op.rule) or _refers_to_objects(op.body) or _refers_to_objects(op.query):
        statuses.append(404)
    if op.body is not None:
        statuses += [413, 415]
    return statuses


def _refers_to_objects(body: Any) -> bool:
    """A body or query naming objects by id (``service_id`` …) may name one the caller cannot see: 404."""
    return isinstance(body, type) and any(name.endswith("_id") for name in body.model_fields)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation (pydantic's JSON Schema is 2020-12)."""
    models: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for op in REGISTRY:
        if isinstance(op.body, type):
            models[(op.body, "validation")] = None
        for spec in op.responses.values():
            if isinstance(spec, type):
                models[(spec, "serialization")] = None
    key_map, definitions = models_json_schema(list(models), ref_template="#/components/schemas/{model}")
    schemas = definitions.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for op in REGISTRY:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation_object(op, key_map)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            # ASCII, because generators derive package names from it (openapi-python-client:
            # "leistungsboerse-api-client"); the German name is in the description.
            "title": "Leistungsboerse API",
            "version": "1.0.0",
            "description": API_DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": _tags(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Ein API-Token aus dem Profil (oder `flask tokens create EMAIL`).",
                }
            },
        },
    }


def _schema_ref(key_map: dict[Any, Any], model: type[BaseModel], mode: str) -> dict[str, Any]:
    return key_map[(model, mode)]


def _operation_object(op: Operation, key_map: dict[Any, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    for converter, name in _RULE_PARAM.findall(op.rule):
        schema = op.path_params.get(name) or dict(_CONVERTER_SCHEMAS.get(converter or None, {"type": "string"}))
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        query_schema = _inline_refs(op.query.model_json_schema(mode="validation"))
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            prop = dict(prop)
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if "description" in prop:
                parameter["description"] = prop.pop("description")
            prop.pop("title", None)
            parameter["schema"] = _not_null(prop)
            parameters.append(parameter)
    if op.method == "POST":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Beliebiger Schlüssel (bis 255 Zeichen): dieselbe Anfrage mit demselben Schlüssel "
                "wirkt einmal; die erste Antwort wird 24 Stunden lang wiederholt.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
            }
        )
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": op.tags,
    }
    if op.description:
        result["description"] = op.description
    if parameters:
        result["parameters"] = parameters
    if isinstance(op.body, type):
        # A body whose fields all have defaults may be left out (an empty body counts as {}), so clients
        # need not invent one for e.g. a decline without a reason.
        result["requestBody"] = {
            "required": any(info.is_required() for info in op.body.model_fields.values()),
            "content": {"application/json": {"schema": _schema_ref(key_map, op.body, "validation")}},
        }
    elif isinstance(op.body, RawBody):
        result["requestBody"] = {
            "required": op.body.required,
            "content": {op.body.media_type: {"schema": op.body.schema}},
        }
    responses: dict[str, Any] = {}
    for status in sorted(set(op.responses) | set(_default_errors(op))):
        spec = op.responses.get(status)
        if status >= 400 or (spec is None and status not in op.responses):
            responses[str(status)] = _problem_response(status)
            continue
        if spec is None:
            responses[str(status)] = {"description": "Ohne Inhalt"}
            continue
        if isinstance(spec, Raw):
            responses[str(status)] = {"description": spec.description or spec.media_type, "content": spec.content()}
        else:
            responses[str(status)] = {
                "description": spec.__doc__.strip().splitlines()[0] if spec.__doc__ else "OK",
                "content": {"application/json": {"schema": _schema_ref(key_map, spec, "serialization")}},
            }
            if is_paged(spec):
                responses[str(status)]["headers"] = {"Link": _LINK_HEADER}
        if status in op.links:
            responses[str(status)]["links"] = {
                name: {"operationId": target, "parameters": params}
                for name, (target, params) in op.links[status].items()
            }
    result["responses"] = responses
    if not op.auth:
        result["security"] = []
    return result


#: The fields of a page of a list (``schemas.Paged``): such an answer also carries an RFC 8288 ``Link`` header.
PAGE_FIELDS = frozenset({"items", "page", "per_page", "total", "links"})
_LINK_HEADER = {
    "description": 'RFC 8288: die Seiten der Liste als `<URL>; rel="first"`, `"last"`, `"next"`, `"prev"` '
    '(und `"self"`), wie `links` im Inhalt.',
    "schema": {"type": "string"},
}


def is_paged(model: type[BaseModel]) -> bool:
    """Whether answers of this model are pages of a list (and so carry the ``Link`` header)."""
    return set(model.model_fields) >= PAGE_FIELDS


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value: drop pydantic's ``null`` alternative and default."""
    options = schema.get("anyOf")
    if options and any(option.get("type") == "null" for option in options):
        rest = [option for option in options if option.get("type") != "null"]
        schema = {key: value for key, value in schema.items() if key != "anyOf"}
        if len(rest) == 1:
            schema = {**rest[0], **schema}
        else:
            schema["anyOf"] = rest
    if schema.get("default", 0) is None:
        schema.pop("default")
    return schema


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local ``#/$defs/X`` references by their definitions (query parameters stand alone)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                resolved = dict(resolve(definitions[ref.removeprefix("#/$defs/")]))
                resolved.pop("title", None)
                return {**resolved, **{k: resolve(v) for k, v in node.items() if k != "$ref"}}
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


_TAG_TEXT = {
    "me": "Wer bin ich",
    "services": "Leistungskatalog",
    "bookings": "Buchungen und Verbrauch",
    "billing": "Abrechnungsläufe",
    "ledger": "Konten, Buchungen, Perioden",
    "settlements": "Ausgleich zwischen Mitgliedern",
    "invoices": "Rechnungen (XRechnung)",
    "payments": "Zahlungen (Stripe)",
    "meta": "Die Beschreibung selbst",
}


def _tags() -> list[dict[str, str]]:
    seen: list[str] = []
    for op in REGISTRY:
        for tag in op.tags:
            if tag not in seen:
                seen.append(tag)
    order = list(_TAG_TEXT)
    seen.sort(key=lambda tag: order.index(tag) if tag in order else len(order))
    return [{"name": tag, "description": _TAG_TEXT.get(tag, tag)} for tag in seen]


API_DESCRIPTION = """\
Die Schnittstelle der **Leistungsbörse** (Leistungsboerse) für Fachverfahren, ERP- und Finanzsysteme der Mitglieder.

* **Anmeldung**: `Authorization: Bearer <Token>`. Tokens legen Nutzerinnen und Nutzer im Profil an
  (lesend oder lesend und schreibend); ein lesender Token erhält bei schreibenden Anfragen 403.
* **Geld** als Dezimalzeichenkette mit zwei Stellen (`"1234.50"`), Daten nach ISO 8601.
* **Fehler** immer als `application/problem+json` (RFC 9457) mit `type`, `title`, `status`, `detail`;
  bei 422 nennt `errors` die Felder.
* **Fremde Objekte**: Eine Ressource eines anderen Mitglieds ist 404 (ihre Existenz wird nicht verraten).
* **Idempotenz**: POST-Anfragen nehmen einen `Idempotency-Key` an. Dieselbe Anfrage mit demselben Schlüssel
  wirkt einmal; die erste erfolgreiche Antwort wird 24 Stunden lang wiederholt (Kopfzeile
  `Idempotent-Replayed: true`). Derselbe Schlüssel mit anderem Inhalt ist ein 422.
* **Grenzen**: Anfragen je Token und Minute sind begrenzt (Vorgabe 1000; 429 mit `Retry-After`); Inhalte
  höchstens 64 KiB (413); eine Anfrage läuft höchstens 30 Sekunden (gunicorn `--timeout`, Vorgabe 30), danach
  bricht der Server sie ab. Unbekannte Felder und Abfrageparameter sind ein 422.
* **Webhooks**: Mitglieder tragen unter „Webhooks“ eine HTTPS-Adresse ein und erhalten Buchungs- und
  Abrechnungsereignisse, signiert mit HMAC-SHA256 (`Leistungsboerse-Signature: t=…,v1=…` über `t.Inhalt`).
* **Seiten**: Listen antworten mit `items`, `page`, `per_page`, `total` und `links` (`self`, `first`, `last`,
  `next`, `prev`), dazu die Kopfzeile `Link` (RFC 8288).
"""


def register_document_route(blueprint: Blueprint) -> None:
    """``GET /api/v1/openapi.json``: generated on request from the registry (cached per process)."""

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        cache = current_app.extensions.setdefault("openapi_document", {})
        if "doc" not in cache:
            cache["doc"] = openapi_document()
        response = jsonify(cache["doc"])
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    REGISTRY.append(
        Operation(
            method="GET",
            rule="/openapi.json",
            endpoint=f"{blueprint.name}.openapi",
            operation_id="openapi",
            summary="Diese Beschreibung (OpenAPI 3.1)",
            description="",
            tags=["meta"],
            body=None,
            query=None,
            responses={200: Raw("application/json", {"type": "object"}, "Das OpenAPI-3.1-Dokument")},
            auth=False,
            links={},
            path_params={},
        )
    )
