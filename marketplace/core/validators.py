"""Validation of identifiers public bodies use (Leitweg-ID, IBAN, VAT id, AGS), of text and of numbers in
query strings.

Text: PostgreSQL refuses NUL in text, and a line break in a one-line value (a service title ends up in an
e-mail subject, a reason in a booking text or a CSV line) breaks what is built from it. So every single-line
text field refuses all control characters (C0 including tab, CR and LF, DEL, C1, the Unicode line and
paragraph separators); a multi-line field (a textarea) allows line breaks and tabs and refuses the rest.
`text_problem` says what is wrong; the forms (`marketplace.core.forms.Form`) and the API's schemas
(`marketplace.api.schemas.SingleLine`/`MultiLine`) both use it, and `check_request_input` answers any NUL
in a query string or form value before a view sees it.
"""

from __future__ import annotations

import re
from typing import Any

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.de import leitweg
from stdnum.de import vat as de_vat

from marketplace.core.errors import InvalidInput

_AGS_RE = re.compile(r"^[0-9]{8}$")

#: Control characters a one-line value never holds: C0 (with tab, CR, LF), DEL, C1, line/paragraph separator.
_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: In multi-line text, line breaks (CR, LF) and tabs are fine; every other control character is not.
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SINGLE_LINE_MESSAGE = "Bitte ohne Zeilenumbrüche, Tabulatoren und andere Steuerzeichen eingeben."
MULTI_LINE_MESSAGE = "Der Text enthält unzulässige Steuerzeichen (erlaubt sind Zeilenumbrüche und Tabulatoren)."
NUL_MESSAGE = "Die Anfrage enthält ein unzulässiges Steuerzeichen (NUL)."
_DIGITS_RE = re.compile(r"^[0-9]{1,18}$")


def text_problem(value: str | None, *, multiline: bool = False) -> str | None:
    """The German message saying why `value` may not be stored as text, or None if it may."""
    if not value:
        return None
    if multiline:
        return MULTI_LINE_MESSAGE if _MULTI_LINE_FORBIDDEN.search(value) else None
    return SINGLE_LINE_MESSAGE if _SINGLE_LINE_FORBIDDEN.search(value) else None


def clean_single_line(value: str | None, field: str) -> str | None:
    """`value` unchanged, or InvalidInput naming `field` if it holds a control character."""
    problem = text_problem(value)
    if problem:
        raise InvalidInput.field(field, problem)
    return value


def contains_nul(value: Any) -> bool:
    """Whether a string, or any string inside lists and dicts (keys too), holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


def parse_query_int(value: str | None, maximum: int = 2**31 - 1) -> int | None:
    """A positive whole number from a query string (ids, years): ASCII digits up to `maximum`, else None.

    Python's `int` would also take ``"١٢"``, ``"1_000"`` and numbers no INTEGER column holds.
    """
    text = (value or "").strip()
    if not _DIGITS_RE.match(text):
        return None
    number = int(text)
    return number if 0 < number <= maximum else None


def check_request_input() -> None:
    """Before every request: NUL in a query parameter (name or value) or a form value is a 400 (HTML) or a
    422 problem naming the parameter (API); PostgreSQL would refuse it in text with a 500. An id in the path
    beyond INTEGER (``/bookings/99999999999999999999``) is not found (SQLite could not even bind it)."""
    from flask import abort, request

    api = request.path.startswith("/api/")  # the API's operations answer such ids with their own 404
    if not api and any(isinstance(v, int) and v > 2**31 - 1 for v in (request.view_args or {}).values()):
        abort(404)

    bad = [name for name, value in request.args.items(multi=True) if "\x00" in name or "\x00" in value]
    form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
    # the API takes JSON only; parse_body checks its bodies
    if not bad and not api and request.mimetype in form_types:
        bad = [name for name, value in request.form.items(multi=True) if "\x00" in name or "\x00" in value]
    if not bad:
        return
    if api:
        names = [name.replace("\x00", "\\0") for name in bad]
        raise InvalidInput(NUL_MESSAGE, errors={name: [NUL_MESSAGE] for name in names})
    abort(400)


def clean_leitweg_id(value: str | None, field: str = "leitweg_id") -> str | None:
    if not value:
        return None
    if not leitweg.is_valid(value):
        raise InvalidInput.field(field, "Die Leitweg-ID ist ungültig (Aufbau oder Prüfziffer).")
    return leitweg.compact(value)


def clean_iban(value: str | None, field: str = "iban") -> str | None:
    if not value:
        return None
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise InvalidInput.field(field, "Die IBAN ist ungültig.") from exc


def clean_vat_id(value: str | None, field: str = "vat_id") -> str | None:
    if not value:
        return None
    if not de_vat.is_valid(value):
        raise InvalidInput.field(field, "Die USt-IdNr. ist ungültig.")
    return de_vat.compact(value)


def clean_ags(value: str | None, field: str = "ags") -> str | None:
    if not value:
        return None
    if not _AGS_RE.match(value):
        raise InvalidInput.field(field, "Der Amtliche Gemeindeschlüssel hat genau 8 Ziffern.")
    return value


#: What a SEPA mandate reference may hold (SEPA character set, at most 35 characters, EPC rulebook).
_MANDATE_RE = re.compile(r"^[A-Za-z0-9+?/\-:().,' ]{1,35}$")
#: A SEPA creditor identifier: country, check digits, business code, national identifier.
_CREDITOR_ID_RE = re.compile(r"^([A-Z]{2})([0-9]{2})([A-Z0-9]{3})([A-Z0-9]{1,28})$")


def clean_mandate_reference(value: str | None, field: str = "mandate_reference") -> str | None:
    """A SEPA mandate reference (XRechnung BT-89) as entered, or InvalidInput naming `field`."""
    value = (value or "").strip()
    if not value:
        return None
    if not _MANDATE_RE.match(value) or value.startswith("/") or "//" in value:
        raise InvalidInput.field(
            field,
            "Die Mandatsreferenz hat höchstens 35 Zeichen: Buchstaben ohne Umlaute, Ziffern, Leerzeichen und "
            "+ ? / - : ( ) . , '",
        )
    return value


def clean_creditor_id(value: str | None, field: str = "sepa_creditor_id") -> str | None:
    """A SEPA creditor identifier (Gläubiger-ID, XRechnung BT-90), compact and upper-case, with its check
    digits verified (ISO 7064 MOD 97-10 over the national identifier and the country, business code left out)."""
    value = "".join((value or "").split()).upper()
    if not value:
        return None
    match = _CREDITOR_ID_RE.match(value)
    if match:
        country, check, _business, national = match.groups()
        digits = "".join(str(int(char, 36)) for char in national + country) + "00"
        if 98 - int(digits) % 97 == int(check):
            return value
    raise InvalidInput.field(field, "Die Gläubiger-Identifikationsnummer ist ungültig (Aufbau oder Prüfziffer).")
