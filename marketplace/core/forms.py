"""Form fields shared by several areas, and the base of every form.

`Form` refuses control characters in every text field (all of them in a one-line field, all but line breaks
and tabs in a textarea; `marketplace.core.validators.text_problem`). The number fields parse what a German
user types with the one form parser of `marketplace.core.money` (``1.234,50``; ``1.234`` is 1234) and take
ASCII digits only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, PasswordField, SelectField, StringField, TextAreaField, ValidationError
from wtforms import IntegerField as _IntegerField

from marketplace.core.errors import DomainError
from marketplace.core.money import AmountError, parse_amount, parse_form_decimal
from marketplace.core.timeutil import parse_month
from marketplace.core.validators import text_problem


def single_line(form: FlaskForm, field: Field) -> None:
    """WTForms validator: no control character at all (line breaks, tabs, NUL …) in a one-line text."""
    if isinstance(field.data, str) and text_problem(field.data):
        raise ValidationError(_l("Bitte ohne Zeilenumbrüche, Tabulatoren und andere Steuerzeichen eingeben."))


def multi_line(form: FlaskForm, field: Field) -> None:
    """WTForms validator: line breaks and tabs are fine in a textarea, other control characters are not."""
    if isinstance(field.data, str) and text_problem(field.data, multiline=True):
        raise ValidationError(
            _l("Der Text enthält unzulässige Steuerzeichen (erlaubt sind Zeilenumbrüche und Tabulatoren).")
        )


class Form(FlaskForm):
    """Base of the application's forms: text fields refuse control characters, whatever else they check."""

    def validate(self, extra_validators: dict[str, list[Any]] | None = None) -> bool:
        extra: dict[str, list[Any]] = {name: list(checks) for name, checks in (extra_validators or {}).items()}
        for name, field in self._fields.items():
            if isinstance(field, TextAreaField):
                extra.setdefault(name, []).append(multi_line)
            elif isinstance(field, StringField) and not isinstance(field, PasswordField | HiddenField):
                extra.setdefault(name, []).append(single_line)
        return super().validate(extra_validators=extra)


class MoneyField(StringField):
    """Euros typed the German way (``1.234,50``) or the technical way (``1234.50``); at most two decimals."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = parse_amount(str(valuelist[0]))
        except AmountError as exc:
            self.raw_data = valuelist
            raise ValueError(_l("Bitte einen Betrag in Euro mit höchstens zwei Nachkommastellen angeben.")) from exc

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if isinstance(self.data, Decimal):
            return f"{self.data:.2f}".replace(".", ",")
        return ""


class DecimalField(StringField):
    """A number typed the German way (``7,44344``, ``1.234,5``) or with a point (``99.5``), ASCII digits only,
    at most `places` decimal places. Ranges are checked by validators or the operation."""

    def __init__(self, label: Any = None, validators: Any = None, *, places: int, message: Any, **kwargs: Any):
        super().__init__(label, validators, **kwargs)
        self.places = places
        self.message = message

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = parse_form_decimal(str(valuelist[0]).replace("%", ""), self.places, signed=True)
        except AmountError as exc:
            self.raw_data = valuelist
            raise ValueError(self.message) from exc

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return str(self.data).replace(".", ",") if self.data is not None else ""


class IntegerField(_IntegerField):
    """A whole number in ASCII digits, thousands grouped as a German user may write them (``3.000.000``).

    WTForms' own field takes whatever Python's `int` takes (``"١٢"``, ``"1_000"``); bounds come from a
    `NumberRange` with the column's limits.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = str(valuelist[0])
        if not text.strip():
            self.data = None
            return
        try:
            self.data = int(parse_form_decimal(text, 0, signed=True))
        except AmountError as exc:
            self.data = None
            raise ValueError(_l("Bitte eine ganze Zahl angeben.")) from exc


MONTH_MESSAGE = _l("Bitte den Monat als MM.JJJJ oder JJJJ-MM angeben, z. B. 09.2026.")


class MonthField(StringField):
    """A month as people type it (``09.2026``, ``9.2026``, ``2026-09``, ``September 2026``); `data` is the
    month as ``YYYY-MM`` (what the operations and the API take), or None when left empty."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = parse_month(str(valuelist[0]))
        except ValueError as exc:
            self.raw_data = valuelist
            raise ValueError(MONTH_MESSAGE) from exc

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data:
            year, month = str(self.data).split("-")
            return f"{month}.{year}"
        return ""


class MonthSelectField(SelectField):
    """A month chosen from a list (`choices`: ``YYYY-MM`` with its German name, set by the view). A value
    sent as ``09.2026`` counts as ``2026-09``. A month not on the list goes on to the operation, which says
    why it cannot take it (closed, in the future …) better than "not on the list" would."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators, choices=[], validate_choice=False, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = parse_month(str(valuelist[0]))
        except ValueError as exc:
            raise ValueError(MONTH_MESSAGE) from exc


class ActionForm(Form):
    """A button that changes state: only the CSRF token."""


def apply_domain_errors(form: FlaskForm, error: DomainError) -> None:
    """Show an operation's field errors at the matching form fields (others, and an error without fields such
    as a Conflict, at the top)."""
    for name, messages in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, *messages]  # type: ignore[misc]
        else:
            form.form_errors.extend(messages)
    if not error.errors:
        form.form_errors.append(error.detail)
