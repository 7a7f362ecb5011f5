"""The API reference page: the OpenAPI document turned into sections, tables and field lists for people.

Rendered on the server (no JavaScript, no CDN) from ``openapi_document()``, so the page cannot drift from
the document, which cannot drift from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from marketplace.api.schemas import TEXT_PATTERN_WORDS
from marketplace.api.spec import openapi_document

_REF = "#/components/schemas/"
_HTTP_TEXT = {
    "200": "OK",
    "201": "Angelegt",
    "204": "Ohne Inhalt",
    "401": "Nicht angemeldet",
    "403": "Nicht erlaubt",
    "404": "Nicht gefunden",
    "409": "Konflikt",
    "413": "Zu groß",
    "415": "Falscher Inhaltstyp",
    "422": "Ungültige Eingabe",
    "429": "Zu viele Anfragen",
}


@dataclass
class FieldRow:
    name: str
    type: Markup
    required: bool
    description: str


@dataclass
class ResponseRow:
    status: str
    text: str
    description: str
    media_type: str
    type: Markup


@dataclass
class OperationView:
    anchor: str
    method: str
    path: str
    summary: str
    description: Markup
    public: bool
    parameters: list[FieldRow] = field(default_factory=list)
    body_type: Markup | None = None
    body_fields: list[FieldRow] = field(default_factory=list)
    responses: list[ResponseRow] = field(default_factory=list)


@dataclass
class TagView:
    name: str
    description: str
    operations: list[OperationView]


@dataclass
class SchemaView:
    name: str
    description: str
    fields: list[FieldRow]
    enum: list[str]


def inline_markdown(text: str) -> Markup:
    """The little Markdown the document uses: paragraphs, ``* `` lists, ``**bold**`` and ``code``."""
    html: list[str] = []
    in_list = False
    for block in re.split(r"\n(?=\* )|\n\n", text.strip()):
        line = " ".join(part.strip() for part in block.splitlines())
        rendered = str(escape(line))
        rendered = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", rendered)
        rendered = re.sub(r"`(.+?)`", r"<code>\1</code>", rendered)
        if rendered.startswith("* "):
            if not in_list:
                html.append('<ul class="kern-list">')
                in_list = True
            html.append(f"<li>{rendered[2:]}</li>")
            continue
        if in_list:
            html.append("</ul>")
            in_list = False
        if rendered:
            html.append(f'<p class="kern-body">{rendered}</p>')
    if in_list:
        html.append("</ul>")
    return Markup("".join(html))  # noqa: S704 - built from escaped text above


def type_text(schema: dict[str, Any]) -> Markup:
    """A JSON Schema as a short German phrase, with links to named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return Markup('<a class="kern-link" href="#schema-{0}">{0}</a>').format(name)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        return Markup(" oder ").join(type_text(option) for option in options)
    if "enum" in schema:
        return Markup("eines von ") + Markup(", ").join(Markup("<code>{}</code>").format(v) for v in schema["enum"])
    if "const" in schema:
        return Markup("<code>{}</code>").format(schema["const"])
    kind = schema.get("type")
    if kind == "array":
        return Markup("Liste von ") + type_text(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema:
        return Markup("Objekt: Name → ") + type_text(schema["additionalProperties"])
    words = {
        "string": "Text",
        "integer": "ganze Zahl",
        "number": "Zahl",
        "boolean": "wahr/falsch",
        "null": "null",
        "object": "Objekt",
    }
    text = escape(words.get(str(kind), str(kind or "beliebig")))
    details: list[str] = []
    if schema.get("format") == "date":
        details.append("Datum JJJJ-MM-TT")
    elif schema.get("format") == "date-time":
        details.append("Zeitpunkt ISO 8601")
    if "pattern" in schema:
        details.append(TEXT_PATTERN_WORDS.get(schema["pattern"]) or f"Muster {schema['pattern']}")
    if "minLength" in schema or "maxLength" in schema:
        details.append(f"{schema.get('minLength', 0)}–{schema.get('maxLength', '∞')} Zeichen")
    if "minimum" in schema or "maximum" in schema:
        details.append(f"{schema.get('minimum', '−∞')} bis {schema.get('maximum', '∞')}")
    if "default" in schema and schema["default"] is not None:
        details.append(f"Vorgabe {schema['default']}")
    if details:
        text += Markup(" <span class='kern-body--muted'>({})</span>").format("; ".join(details))
    return text


def _fields(schema: dict[str, Any], schemas: dict[str, Any]) -> list[FieldRow]:
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].removeprefix(_REF), {})
    required = set(schema.get("required", []))
    return [
        FieldRow(name, type_text(prop), name in required, prop.get("description", ""))
        for name, prop in schema.get("properties", {}).items()
    ]


def reference_context() -> dict[str, Any]:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    tag_text = {tag["name"]: tag.get("description", "") for tag in doc.get("tags", [])}
    tags: dict[str, list[OperationView]] = {tag["name"]: [] for tag in doc.get("tags", [])}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            view = OperationView(
                anchor=f"op-{op['operationId']}",
                method=method.upper(),
                path=path,
                summary=op.get("summary", ""),
                description=inline_markdown(op.get("description", "")),
                public=op.get("security") == [],
            )
            for parameter in op.get("parameters", []):
                where = {"path": "Pfad", "query": "Abfrage", "header": "Kopfzeile"}.get(parameter["in"], "")
                view.parameters.append(
                    FieldRow(
                        f"{parameter['name']} ({where})",
                        type_text(parameter.get("schema", {})),
                        parameter.get("required", False),
                        parameter.get("description", ""),
                    )
                )
            content = op.get("requestBody", {}).get("content", {})
            for _media, body in content.items():
                view.body_type = type_text(body.get("schema", {}))
                view.body_fields = _fields(body.get("schema", {}), schemas)
            for status, response in op.get("responses", {}).items():
                media, body = next(iter(response.get("content", {}).items()), ("", {}))
                view.responses.append(
                    ResponseRow(
                        status,
                        _HTTP_TEXT.get(status, ""),
                        response.get("description", ""),
                        media,
                        type_text(body.get("schema", {})) if body else Markup(""),
                    )
                )
            for tag in op.get("tags") or ["weitere"]:
                tags.setdefault(tag, []).append(view)
    schema_views = [
        SchemaView(
            name=name,
            description=schema.get("description", ""),
            fields=_fields(schema, schemas),
            enum=[str(value) for value in schema.get("enum", [])],
        )
        for name, schema in sorted(schemas.items())
    ]
    return {
        "info": doc["info"],
        "intro": inline_markdown(doc["info"].get("description", "")),
        "tags": [TagView(name, tag_text.get(name, name), ops) for name, ops in tags.items() if ops],
        "schemas": schema_views,
        "security": doc["components"]["securitySchemes"],
    }
