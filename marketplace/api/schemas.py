"""Request bodies, query strings and responses of the API as pydantic models.

The same models validate input, shape output and generate the OpenAPI document (``marketplace.api.spec``).
Money travels as a decimal string with two places; dates as ISO 8601.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from flask import request, url_for
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema

from marketplace.api.spec import MAX_ID, ApiModel, Money, QueryModel, UtcDatetimes, money
from marketplace.bookings.models import (
    MAX_BOOKING_QUANTITY,
    MAX_USAGE_QUANTITY,
    USAGE_QUANTITY_PLACES,
    Booking,
    BookingStatus,
    UsageState,
    effective_status,
)
from marketplace.catalogue.models import (
    MAX_CAPACITY,
    MAX_TITLE,
    MAX_UNIT_PRICE,
    Service,
    ServiceStatus,
    TaxReason,
    Unit,
    VatCategory,
)
from marketplace.core.errors import InvalidInput
from marketplace.core.money import INTEGER_MAX, AmountError, parse_api_amount, parse_api_decimal
from marketplace.core.pagination import MAX_PAGE, MAX_PER_PAGE, Page
from marketplace.core.timeutil import PERIOD_PATTERN, today
from marketplace.core.validators import NUL_MESSAGE, contains_nul, text_problem
from marketplace.members.models import (
    MAX_MANDATE_REFERENCE,
    MAX_REFERENCE,
    InvoiceProfile,
    InvoiceReference,
    Member,
    PaymentWay,
)


def _api_amount(value: str) -> str:
    try:
        parse_api_amount(value)
    except AmountError:
        raise PydanticCustomError(
            "money", 'Bitte den Betrag als Dezimalzeichenkette mit Punkt angeben, z. B. "1234.50".'
        ) from None
    return value


def _api_quantity(value: Any) -> Any:
    """A quantity as JSON number or ASCII decimal string (``12.5``, ``"12.5"``): no sign, no exponent, no
    other scripts' digits or underscores, at most three places; the result is a Decimal."""
    text = None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value) if value != 0 else "0"  # -0.0 is zero, as JSON Schema's minimum 0 says
    elif isinstance(value, str):
        text = value
    try:
        if text is None:
            raise AmountError(value)
        return parse_api_decimal(text, USAGE_QUANTITY_PLACES)
    except AmountError:
        raise PydanticCustomError(
            "quantity",
            'Bitte die Menge als Zahl oder Dezimalzeichenkette ohne Vorzeichen angeben, z. B. 12.5 oder "12.5" '
            "(Ziffern 0–9, höchstens drei Nachkommastellen).",
        ) from None


def _ascii_int(value: Any) -> Any:
    """Query-string numbers in ASCII digits only (pydantic's lax mode would take ``"1_000"`` and ``" 12 "``)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise PydanticCustomError("int_parsing", "Bitte eine ganze Zahl aus den Ziffern 0–9 angeben.")
    return value


#: What the text rules refuse, as JSON Schema patterns for the document (core/validators.py decides): a
#: one-line text holds no C0/C1 control character, DEL or line/paragraph separator; a multi-line text only
#: line breaks and tabs among them. The API drops white space around a text (Unicode White_Space, as
#: pydantic does), so white space of any kind may stand before and after it.
_WHITE_SPACE = r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_SINGLE_LINE_CHAR = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]"
_MULTI_LINE_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
#: A character that is neither white space nor refused: what a text that must not be empty needs.
_VISIBLE_CHAR = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


#: Unicode's White_Space characters (what pydantic's stripping removes, and what ``_WHITE_SPACE`` says).
WHITE_SPACE_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class _TextRule:
    """A text of the API: white space around it is dropped, control characters inside are refused
    (``text_problem``), and the OpenAPI document states both as a ``pattern``, so a client that follows the
    document never sends what the check refuses.

    The length limits apply to the text as sent (the document's ``maxLength``), so the rule strips the
    white space itself, after them, instead of leaving it to the model's ``str_strip_whitespace``. A text
    that must not be empty (``minLength`` 1) needs a character that is not white space: ``"   "`` is empty.
    """

    multiline: bool

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        inner = handler(source)
        required = False
        if inner.get("type") == "str":
            inner = {**inner, "strip_whitespace": False}  # type: ignore[typeddict-unknown-key]
            required = inner.get("min_length", 0) >= 1
        multiline = self.multiline

        def check(value: str) -> str:
            value = value.strip(WHITE_SPACE_CHARS)
            problem = text_problem(value, multiline=multiline)
            if problem:
                raise PydanticCustomError("control_character", problem)
            if required and not value:
                raise PydanticCustomError("string_too_short", "Bitte einen Text angeben (nicht nur Leerzeichen).")
            return value

        return core_schema.no_info_after_validator_function(check, inner)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        json_schema = handler(schema)
        json_schema["pattern"] = _text_pattern(self.multiline, json_schema.get("minLength", 0) >= 1)
        return json_schema


def _text_pattern(multiline: bool, required: bool) -> str:
    char = _MULTI_LINE_CHAR if multiline else _SINGLE_LINE_CHAR
    text = f"{char}*{_VISIBLE_CHAR}{char}*" if required else f"{char}*"
    return f"^{_WHITE_SPACE}*{text}{_WHITE_SPACE}*$"


#: The text patterns in words, for the reference page (``api.reference``), which would otherwise print them.
TEXT_PATTERN_WORDS = {
    _text_pattern(False, False): "eine Zeile ohne Steuerzeichen",
    _text_pattern(False, True): "eine Zeile ohne Steuerzeichen, nicht nur Leerzeichen",
    _text_pattern(True, False): "Zeilenumbrüche und Tabulatoren erlaubt, sonst ohne Steuerzeichen",
    _text_pattern(True, True): "Zeilenumbrüche und Tabulatoren erlaubt, sonst ohne Steuerzeichen; nicht leer",
}


_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """Only text ``YYYY-MM-DD`` goes on to the date parser, which would also read numbers and ``"0"`` as Unix
    times and datetimes at midnight as dates."""
    if not (isinstance(value, str) and _ISO_DATE_RE.fullmatch(value)):
        raise PydanticCustomError("date_format", "Bitte ein Datum in der Form JJJJ-MM-TT angeben.")
    return value


def _json_int(value: Any) -> Any:
    """JSON has numbers, not integers: ``28.0`` is the integer 28 (as JSON Schema's ``integer`` says), while
    ``28.5``, ``true`` and ``"28"`` stay what they are and are refused by the strict check after this."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A one-line text: no control character at all (line breaks, tabs, NUL …); see core/validators.py.
SingleLine = _TextRule(multiline=False)
#: A multi-line text: line breaks and tabs, no other control character.
MultiLine = _TextRule(multiline=True)
#: A whole number in a query string, ASCII digits only (``query_int`` with bounds).
QueryInt = Annotated[int, BeforeValidator(_ascii_int)]


def query_int(*, ge: int, le: int, description: str | None = None) -> Any:
    """A whole number in a query string between `ge` and `le`, ASCII digits only. (The bounds stand before
    the converter, so that the document states them as minimum and maximum.)"""
    return Annotated[int, Field(ge=ge, le=le, description=description), BeforeValidator(_ascii_int)]


def json_int(*, ge: int, le: int, description: str | None = None) -> Any:
    """A whole number in a JSON body between `ge` and `le`: ``28`` or ``28.0``, never ``true``, ``"28"`` or
    ``28.5``. (The bounds stand before the converter, so that the document states them as minimum/maximum.)"""
    return Annotated[StrictInt, Field(ge=ge, le=le, description=description), BeforeValidator(_json_int)]


#: A date in a JSON body: exactly ``YYYY-MM-DD`` (pydantic would also take Unix times and datetimes at
#: midnight, which the document does not offer), years from 0001 (what Python's dates hold).
JsonDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}$",
        }
    ),
]

#: Exact strings (money, rates, months) are never stripped: what the pattern says is what is taken.
MoneyStr = Annotated[
    str,
    # the catalogue's bounds (0 to MAX_UNIT_PRICE): up to 9,999,999.99 or exactly 10,000,000.00
    StringConstraints(
        strip_whitespace=False,
        pattern=r"^([0-9]{1,7}(\.[0-9]{1,2})?|10000000(\.00?)?)$",
    ),
    AfterValidator(_api_amount),
    Field(description=f"Euro, höchstens zwei Nachkommastellen, 0 bis {MAX_UNIT_PRICE:.2f}"),
]
VatRateStr = Annotated[str, StringConstraints(strip_whitespace=False, pattern=r"^(19\.00|0\.00|19|0)$")]
#: A month, the same pattern everywhere in the API (and in ``core.timeutil.parse_period``).
PeriodStr = Annotated[
    str,
    StringConstraints(strip_whitespace=False, pattern=PERIOD_PATTERN),
    Field(description="Monat, z. B. 2026-11", examples=["2026-11"]),
]
#: ``?period=`` (empty) means every month, so the empty text is a month filter too.
PeriodOrAll = Annotated[
    str,
    StringConstraints(strip_whitespace=False, pattern=f"^$|{PERIOD_PATTERN}"),
    Field(description="Monat, z. B. 2026-11 (leer: alle)"),
]
CategorySlug = Annotated[str, StringConstraints(min_length=1, max_length=40), SingleLine]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), SingleLine]
Description = Annotated[str, StringConstraints(max_length=10_000), MultiLine]
Capacity = json_int(ge=1, le=MAX_CAPACITY, description="Einheiten gleichzeitig; null: unbegrenzt")
# The tax treatment, with the limits of the service form (marketplace/catalogue/forms.py).
TaxLegalBasis = Annotated[str, StringConstraints(max_length=200), SingleLine]
TaxReasons = Annotated[list[TaxReason], Field(max_length=len(TaxReason))]
TaxReasoning = Annotated[str, StringConstraints(max_length=5000), MultiLine]
Note = Annotated[str, StringConstraints(max_length=2000), MultiLine]
#: The exemption codes (EN 16931 VATEX) the service form offers (``VATEX_LABELS`` there; a test keeps them equal).
VatexCode = Literal["VATEX-EU-132", "VATEX-EU-132-1I", "VATEX-EU-132-1J", "VATEX-EU-132-1L", "VATEX-EU-135-1"]
TAX_LEGAL_BASIS_TEXT = "Rechtsgrundlage bei O, z. B. „§ 2b Abs. 3 Nr. 2 UStG“ (leer: diese)"
TAX_REASONS_TEXT = (
    "Begründung der Nicht-Steuerbarkeit bei O (§ 2b Abs. 3 Nr. 2 UStG): public_law_agreement (langfristige "
    "öffentlich-rechtliche Vereinbarung), shared_public_task (gemeinsame öffentliche Aufgabe), cost_reimbursement "
    "(nur Kostenerstattung, ohne Gewinnaufschlag), mainly_public_bodies (der Anbieter leistet im Wesentlichen an "
    "juristische Personen des öffentlichen Rechts). Eine Leistung mit O lässt sich nur mit mindestens einem Grund "
    "veröffentlichen (sonst 422); ein Entwurf darf ohne sein."
)
TAX_REASONING_TEXT = "Erläuterung zur Steuerbehandlung"
VATEX_TEXT = "Befreiungsgrund (VATEX-Code); bei E Pflicht (sonst 422), bei S und O ohne Wirkung"


# --- request bodies ------------------------------------------------------------------------------------


class ServiceCreate(ApiModel):
    title: Title
    description: Description = ""
    category: CategorySlug
    unit: Unit
    unit_price: MoneyStr
    vat_category: VatCategory
    vat_rate: VatRateStr | None = None
    capacity: Capacity | None = None
    status: ServiceStatus = ServiceStatus.PUBLISHED
    tax_legal_basis: Annotated[TaxLegalBasis, Field(description=TAX_LEGAL_BASIS_TEXT)] = ""
    tax_reasons: Annotated[TaxReasons, Field(description=TAX_REASONS_TEXT)] = []
    tax_reasoning: Annotated[TaxReasoning, Field(description=TAX_REASONING_TEXT)] = ""
    vatex_code: Annotated[VatexCode | None, Field(description=VATEX_TEXT)] = None


class ServiceUpdate(ApiModel):
    """Only the fields sent change; a new ``unit_price`` makes a new price version.

    The result, if published as O, needs its § 2b reasons (``tax_reasons``) when the change publishes it,
    makes it O or changes its tax reasons or legal basis; otherwise 422. Changing to E needs ``vatex_code``.
    """

    title: Title | None = None
    description: Description | None = None
    category: CategorySlug | None = None
    unit: Unit | None = None
    unit_price: MoneyStr | None = None
    vat_category: VatCategory | None = None
    vat_rate: VatRateStr | None = None
    capacity: Capacity | None = None
    status: ServiceStatus | None = None
    tax_legal_basis: Annotated[TaxLegalBasis | None, Field(description=TAX_LEGAL_BASIS_TEXT)] = None
    tax_reasons: Annotated[TaxReasons | None, Field(description=TAX_REASONS_TEXT)] = None
    tax_reasoning: Annotated[TaxReasoning | None, Field(description=TAX_REASONING_TEXT)] = None
    vatex_code: Annotated[VatexCode | None, Field(description=VATEX_TEXT)] = None


#: An invoice reference of a booking or an invoice profile (one line, at most 100 characters).
Reference = Annotated[str, StringConstraints(max_length=MAX_REFERENCE), SingleLine]
REFERENCE_TEXTS = {
    "order_reference": "Bestellnummer (XRechnung BT-13)",
    "contract_reference": "Vertragsnummer (BT-12)",
    "buyer_accounting_reference": "Kostenstelle oder Buchungsreferenz des Käufers (BT-19, je Position BT-133)",
    "project_reference": "Projekt- oder Mittelbindungsnummer (BT-11)",
}


class BookingCreate(ApiModel):
    """Fehlt eine Rechnungsreferenz oder ist sie leer, gilt die Vorgabe des Rechnungsprofils der eigenen Stelle;
    verlangt das Profil sie und gibt es keine Vorgabe, antwortet die API 422 mit dem Feldnamen."""

    service_id: json_int(ge=1, le=INTEGER_MAX)  # type: ignore[valid-type]
    quantity: json_int(ge=1, le=MAX_BOOKING_QUANTITY)  # type: ignore[valid-type]
    starts_on: JsonDate
    ends_on: JsonDate | None = None
    note: Note = ""
    order_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["order_reference"])] = None
    contract_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["contract_reference"])] = None
    buyer_accounting_reference: Annotated[
        Reference | None, Field(description=REFERENCE_TEXTS["buyer_accounting_reference"])
    ] = None
    project_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["project_reference"])] = None


class BookingReferencesUpdate(ApiModel):
    """Nur die gesendeten Referenzen ändern sich (leer: entfernt). 409, sobald eine Abrechnung der Buchung in
    Rechnung gestellt ist; 422, wenn das Rechnungsprofil eine Referenz verlangt und sie leer wäre."""

    order_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["order_reference"])] = None
    contract_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["contract_reference"])] = None
    buyer_accounting_reference: Annotated[
        Reference | None, Field(description=REFERENCE_TEXTS["buyer_accounting_reference"])
    ] = None
    project_reference: Annotated[Reference | None, Field(description=REFERENCE_TEXTS["project_reference"])] = None


class InvoiceDefaults(ApiModel):
    order_reference: Annotated[Reference, Field(description=REFERENCE_TEXTS["order_reference"])] = ""
    contract_reference: Annotated[Reference, Field(description=REFERENCE_TEXTS["contract_reference"])] = ""
    buyer_accounting_reference: Annotated[
        Reference, Field(description=REFERENCE_TEXTS["buyer_accounting_reference"])
    ] = ""
    project_reference: Annotated[Reference, Field(description=REFERENCE_TEXTS["project_reference"])] = ""


class PaymentSetting(ApiModel):
    way: Annotated[
        PaymentWay,
        Field(
            description="clearing: Ausgleich über die Verrechnung der Leistungsbörse (Zahlungsmittel 97); debit: "
            "SEPA-Lastschrift durch den Betreiber (59, braucht Mandatsreferenz und IBAN); transfer: "
            "SEPA-Überweisung an den Anbieter (58)"
        ),
    ]
    mandate_reference: Annotated[
        Annotated[str, StringConstraints(max_length=MAX_MANDATE_REFERENCE), SingleLine] | None,
        Field(description="Referenz des SEPA-Mandats, das der Betreiber hält (BT-89); bei debit Pflicht"),
    ] = None
    debited_iban: Annotated[
        Annotated[str, StringConstraints(max_length=42), SingleLine] | None,
        Field(description="IBAN des belasteten Kontos (BT-91); bei debit Pflicht"),
    ] = None


class InvoiceProfileIn(ApiModel):
    """Ohne ``payment`` bleibt der Zahlungsweg, wie er ist; ``sepa_creditor_id`` gilt nur für den Betreiber."""

    required: Annotated[
        list[InvoiceReference], Field(max_length=len(InvoiceReference), description="Pflichtreferenzen jeder Buchung")
    ] = []
    defaults: InvoiceDefaults = InvoiceDefaults()
    payment: PaymentSetting | None = None
    sepa_creditor_id: Annotated[
        Annotated[str, StringConstraints(max_length=40), SingleLine] | None,
        Field(description="Gläubiger-Identifikationsnummer des Betreibers (BT-90)"),
    ] = None


class DeclineBody(ApiModel):
    reason: Note = ""


class CancelBody(ApiModel):
    reason: Note = ""
    ends_on: Annotated[
        JsonDate | None, Field(description="Gewünschtes Ende; ohne: so früh wie Frist und Mindestlaufzeit erlauben")
    ] = None


#: A usage quantity as the API takes it (a JSON number or a decimal string, at most three places).
UsageQuantity = Annotated[
    Decimal,
    BeforeValidator(_api_quantity),
    Field(
        ge=0,
        le=MAX_USAGE_QUANTITY,
        decimal_places=USAGE_QUANTITY_PLACES,
        description="Menge, höchstens drei Nachkommastellen",
    ),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": int(MAX_USAGE_QUANTITY), "multipleOf": 0.001},
                # up to MAX_USAGE_QUANTITY (10 000 000 000), leading zeros allowed, 40 characters at most
                {
                    "type": "string",
                    "maxLength": 40,
                    "pattern": r"^0*([0-9]{1,10}(\.[0-9]{1,3})?|10000000000(\.0{1,3})?)$",
                },
            ],
            "description": "Menge (Zahl oder Dezimalzeichenkette), höchstens drei Nachkommastellen",
        }
    ),
]


class UsageCreate(ApiModel):
    period: PeriodStr
    quantity: UsageQuantity


class BillingRunCreate(ApiModel):
    period: PeriodStr


# --- query strings -------------------------------------------------------------------------------------


class PageQuery(QueryModel):
    page: query_int(ge=1, le=MAX_PAGE, description="Seite, ab 1") = 1  # type: ignore[valid-type]
    per_page: query_int(ge=1, le=MAX_PER_PAGE, description="Einträge je Seite") = 20  # type: ignore[valid-type]


class ServiceQuery(PageQuery):
    q: Annotated[str, StringConstraints(max_length=200), SingleLine, Field(description="Suchwörter")] = ""
    category: Annotated[CategorySlug | None, Field(description="Kategorie, z. B. hosting")] = None
    provider_id: query_int(ge=1, le=INTEGER_MAX, description="Anbietendes Mitglied") | None = None  # type: ignore[valid-type]


class BookingQuery(PageQuery):
    side: Annotated[
        Literal["buyer", "provider", "all"] | None,
        Field(
            alias="as",
            description=(
                "Buchungen des eigenen Mitglieds als Käufer (Vorgabe) oder als Anbieter; `all`: alle Buchungen "
                "(nur der Betreiber, dessen Vorgabe das ist)"
            ),
        ),
    ] = None
    status: BookingStatus | None = None
    provider_id: query_int(ge=1, le=INTEGER_MAX, description="Nur Buchungen von Leistungen dieses Anbieters") | None = (
        None  # type: ignore[valid-type]
    )
    buyer_id: query_int(ge=1, le=INTEGER_MAX, description="Nur Buchungen dieses Abnehmers") | None = None  # type: ignore[valid-type]
    service_id: query_int(ge=1, le=INTEGER_MAX, description="Nur Buchungen dieser Leistung") | None = None  # type: ignore[valid-type]


# --- responses -----------------------------------------------------------------------------------------


class Out(UtcDatetimes):
    """Base of responses: exactly the documented fields, nothing else."""

    model_config = ConfigDict(extra="forbid")


class MemberRef(Out):
    id: int
    name: str


class UserInfo(Out):
    email: str
    name: str
    roles: list[str]


class MeOut(Out):
    """Nutzer und Mitglied des Tokens."""

    user: UserInfo
    member: MemberRef


class ServiceOut(Out):
    """Eine Leistung des Katalogs."""

    id: int
    title: str
    description: str
    category: str
    unit: Unit
    unit_price: Money
    vat_category: VatCategory
    vat_rate: Money
    capacity: int | None
    status: ServiceStatus
    provider: MemberRef
    tax_legal_basis: Annotated[str, Field(description="Rechtsgrundlage der Steuerbehandlung (bei O)")]
    tax_reasons: Annotated[list[TaxReason], Field(description="Begründung der Nicht-Steuerbarkeit (bei O)")]
    tax_reasoning: Annotated[str, Field(description="Erläuterung zur Steuerbehandlung")]
    vatex_code: Annotated[str | None, Field(description="Befreiungsgrund (VATEX-Code, bei E)")]

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        return cls(
            id=service.id,
            title=service.title,
            description=service.description,
            category=service.category.slug,
            unit=service.unit,
            unit_price=money(service.unit_price_cents),
            vat_category=service.vat_category,
            vat_rate=f"{service.vat_rate:.2f}",
            capacity=service.capacity,
            status=service.status,
            provider=MemberRef(id=service.provider.id, name=service.provider.name),
            tax_legal_basis=service.tax_legal_basis,
            tax_reasons=service.tax_reason_list,
            tax_reasoning=service.tax_reasoning,
            vatex_code=service.vatex_code,
        )


class BookingOut(Out):
    """Eine Buchung; ``unit_price`` ist der bei Annahme festgehaltene Preis (vorher null). Die vier
    Rechnungsreferenzen stehen auf ihren Rechnungen; ``invoiced`` sagt, ob sie sich nicht mehr ändern lassen."""

    id: int
    service_id: int
    buyer: MemberRef
    #: The member offering the service (what the operator's list of all bookings needs beside the buyer).
    provider: MemberRef
    quantity: int
    starts_on: date
    ends_on: date | None
    status: BookingStatus
    unit_price: Money | None
    note: str
    order_reference: Annotated[str, Field(description=REFERENCE_TEXTS["order_reference"])]
    contract_reference: Annotated[str, Field(description=REFERENCE_TEXTS["contract_reference"])]
    buyer_accounting_reference: Annotated[str, Field(description=REFERENCE_TEXTS["buyer_accounting_reference"])]
    project_reference: Annotated[str, Field(description=REFERENCE_TEXTS["project_reference"])]
    invoiced: Annotated[bool, Field(description="Eine Abrechnung der Buchung ist in Rechnung gestellt")]

    @classmethod
    def of(cls, booking: Booking) -> BookingOut:
        # the status the dates give it today, as the pages show it (the daily job records it later)
        return cls(
            id=booking.id,
            service_id=booking.service_id,
            buyer=MemberRef(id=booking.buyer.id, name=booking.buyer.name),
            provider=MemberRef(id=booking.service.provider.id, name=booking.service.provider.name),
            quantity=booking.quantity,
            starts_on=booking.starts_on,
            ends_on=booking.ends_on,
            status=effective_status(booking, today()),
            unit_price=money(booking.unit_price_cents) if booking.unit_price_cents is not None else None,
            note=booking.note,
            invoiced=booking.invoiced_at is not None,
            **booking.references(),
        )


class InvoiceProfileOut(Out):
    """Rechnungsprofil und Zahlungsweg eines Mitglieds."""

    member_id: int
    required: list[InvoiceReference]
    defaults: dict[str, str]
    payment: dict[str, str | None]
    sepa_creditor_id: str | None

    @classmethod
    def of(cls, profile: InvoiceProfile, member: Member) -> InvoiceProfileOut:
        return cls(
            member_id=member.id,
            required=profile.required_references,
            defaults={reference.value: profile.default(reference) for reference in InvoiceReference},
            payment={
                "way": profile.payment_way.value,
                "payment_means_code": profile.payment_way.code,
                "mandate_reference": profile.mandate_reference,
                "debited_iban": profile.mandate_iban,
            },
            sepa_creditor_id=member.sepa_creditor_id if member.is_operator else None,
        )


class UsageChargeOut(Out):
    """Eine Buchung im Hauptbuch zu einem Verbrauch: die Berechnung, ihr Storno (negativ), mit dem Beleg."""

    transfer_id: int
    kind: str = Field(description="charge (Berechnung) oder reversal (Storno)", examples=["charge"])
    invoice_id: int | None = Field(description="Rechnung oder Gutschrift mit dieser Buchung (ab dem Monatsabschluss)")
    amount: Money


class UsageOut(Out):
    """Verbrauch eines Monats und wo er steht: erfasst (`recorded`) oder korrigiert (`corrected`) in Prüfung bis
    `review_until`, bestätigt (`confirmed`), ohne Antwort als anerkannt geltend (`deemed_accepted`), bestritten
    (`disputed`), abgerechnet (`billed`, mit `charges`) oder gutgeschrieben (`credited`). Abgerechnet wird nur
    bestätigter oder als anerkannt geltender Verbrauch."""

    id: int
    booking_id: int
    period: str
    quantity: Annotated[str, Field(pattern=r"^\d+\.\d{3}$", examples=["12.500"])]
    status: UsageState
    review_until: date = Field(description="Letzter Tag, an dem die abnehmende Stelle bestätigen oder bestreiten kann")
    amount: Money | None = Field(description="Menge mal Preis der Buchung: was berechnet wird oder wurde")
    dispute_reason: str
    charges: list[UsageChargeOut]


class DisputeBody(ApiModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000), MultiLine] = Field(
        description="Warum der Verbrauch bestritten wird"
    )


class SkippedCharge(Out):
    """Eine Buchung, die der Lauf nicht abrechnen konnte, mit Grund."""

    booking_id: int
    reason: str


class BillingRunOut(Out):
    """Ergebnis eines Abrechnungslaufs (eine Wiederholung erzeugt 0 Buchungen).

    `skipped` nennt die Buchungen, die der Lauf nicht abrechnen konnte (z. B. ein Betrag, den das Hauptbuch
    nicht fassen kann); die übrigen sind abgerechnet, ein späterer Lauf holt die übersprungenen nach."""

    period: str
    transfers_created: int
    total: Money
    skipped: list[SkippedCharge]


RunStatusText = Literal["queued", "running", "done", "failed"]


class BillingRunAccepted(Out):
    """Ein großer Abrechnungslauf, als Auftrag angenommen: `GET /api/v1/billing-runs/{id}` zeigt seinen Stand."""

    id: int
    period: str
    status: RunStatusText = Field(description="queued (wartet), running (läuft), done (fertig), failed (abgebrochen)")
    progress: Annotated[int, Field(ge=0, le=100, description="Fortschritt in Prozent der Abrechnungen des Monats")]


class BillingRunState(BillingRunAccepted):
    """Stand eines Abrechnungslaufs; fertig (`done`) mit `transfers_created`, `total` und `skipped`.

    Ein abgebrochener Lauf (`failed`, Grund in `error`) lässt stehen, was er gebucht hat; ein neuer Lauf für
    denselben Monat bucht genau das Fehlende. Erst dann lässt sich der Monat abschließen.
    """

    processed: int = Field(description="Abrechnungen, die der Lauf bisher erledigt hat")
    planned: int = Field(description="Abrechnungen (beim Einreihen: Buchungen), die der Lauf erledigen wird")
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime | None
    finished_at: datetime | None
    transfers_created: int | None = Field(description="Fertig: neue Buchungen (bis dahin null)")
    total: Money | None = Field(description="Fertig: Summe der neuen Buchungen (bis dahin null)")
    skipped: list[SkippedCharge] | None = Field(
        description="Fertig: Abrechnungen, die nicht gebucht werden konnten, mit Grund (bis dahin null)"
    )
    error: str | None = Field(description="Abgebrochen: warum (sonst null)")


class BalanceRow(Out):
    member_id: int
    member_name: str
    balance: Money


class BalancesOut(Out):
    """Salden je Mitglied (alle Konten eines Mitglieds zusammen)."""

    items: list[BalanceRow]
    total: Money


class PageLinks(Out):
    self: str
    first: str
    last: str
    next: str | None
    prev: str | None


ItemT = TypeVar("ItemT")


class Paged(Out, Generic[ItemT]):
    items: list[ItemT]
    page: int
    per_page: int
    total: int
    links: PageLinks


class ServicePage(Paged[ServiceOut]):
    """Eine Seite Leistungen."""


class BookingPage(Paged[BookingOut]):
    """Eine Seite Buchungen."""


class UsagePage(Paged[UsageOut]):
    """Eine Seite Verbrauchsmeldungen."""


class UsageQuery(PageQuery):
    booking_id: query_int(ge=1, le=MAX_ID, description="Nur Verbrauch dieser Buchung") | None = None  # type: ignore[valid-type]
    period: PeriodStr | None = None
    status: UsageState | None = None


def page_out(page: Page, serialise: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The page as ``{items, page, per_page, total, links}`` and its RFC 8288 ``Link`` header."""

    def link(number: int) -> str:
        args = request.args.to_dict()
        args.update(page=str(number), per_page=str(page.per_page))
        return url_for(request.endpoint or "", **(request.view_args or {}), **args)

    links = {
        "self": link(page.page),
        "first": link(1),
        "last": link(page.pages),
        "next": link(page.page + 1) if page.has_next else None,
        "prev": link(page.page - 1) if page.has_prev else None,
    }
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url is not None)
    body = {
        "items": [serialise(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "links": links,
    }
    return body, {"Link": header}


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """Validate a JSON body; InvalidInput naming each bad field (``body`` for broken JSON).

    NUL in any string (PostgreSQL refuses it in text) is refused first, wherever it is, naming the field.
    """
    _refuse_nul(raw)
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
    """An API decimal string (``"1234.50"``, already validated by its schema) as a Decimal."""
    return parse_api_amount(value) if value is not None else None


def _refuse_nul(raw: bytes) -> None:
    """A 422 naming each top-level field (or ``body``) whose text holds a NUL character."""
    if b"\\u0000" not in raw.lower() and b"\x00" not in raw:
        return
    try:
        data = json.loads(raw)
    except ValueError:
        return  # broken JSON: parse_body says so
    if isinstance(data, dict):
        bad = [str(key) for key, value in data.items() if contains_nul(key) or contains_nul(value)]
        if bad:
            raise InvalidInput(NUL_MESSAGE, errors={name.replace("\x00", "\\0"): [NUL_MESSAGE] for name in bad})
    if contains_nul(data):
        raise InvalidInput(NUL_MESSAGE, errors={"body": [NUL_MESSAGE]})
