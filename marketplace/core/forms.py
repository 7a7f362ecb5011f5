"""Form fields shared by several areas."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField

from marketplace.core.errors import InvalidInput
from marketplace.core.money import AmountError, parse_amount


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


class ActionForm(FlaskForm):
    """A button that changes state: only the CSRF token."""


def apply_domain_errors(form: FlaskForm, error: InvalidInput) -> None:
    """Show an operation's field errors at the matching form fields (others at the top)."""
    for name, messages in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, *messages]  # type: ignore[misc]
        else:
            form.form_errors.extend(messages)
    if not error.errors:
        form.form_errors.append(error.detail)
