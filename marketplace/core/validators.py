"""Validation of identifiers public bodies use: Leitweg-ID, IBAN, VAT id, AGS."""

from __future__ import annotations

import re

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.de import leitweg
from stdnum.de import vat as de_vat

from marketplace.core.errors import InvalidInput

_AGS_RE = re.compile(r"^\d{8}$")


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
