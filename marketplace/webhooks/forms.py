"""The form of the webhooks page: a member's new endpoint."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from wtforms import StringField, URLField
from wtforms.validators import DataRequired, Length, ValidationError

from marketplace.core.forms import Form
from marketplace.webhooks.delivery import allow_private


class WebhookForm(Form):
    url = URLField(
        _l("Adresse (URL)"),
        description=_l("HTTPS-Adresse Ihres Systems, an die Ereignisse gesendet werden."),
        validators=[DataRequired(_l("Bitte eine Adresse angeben.")), Length(max=500)],
    )
    description = StringField(_l("Beschreibung"), validators=[Length(max=200)])

    def validate_url(self, field: URLField) -> None:
        parts = urlsplit((field.data or "").strip())
        allowed = ("https", "http") if allow_private() else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            raise ValidationError(
                _l("Bitte eine vollständige HTTPS-Adresse angeben, z. B. https://erp.example.de/hook.")
            )
