"""HTTP API v1: thin JSON views over the same operations as the HTML pages.

Routes are declared with ``marketplace.api.spec.operation`` (read its docstring), which also feeds the
generated OpenAPI document at ``GET /api/v1/openapi.json``. Area modules add one import line below.
"""

# ruff: noqa: E402, F401, I001  (routes register on import, one line per area)

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy.session import Session as _Session

from marketplace.api.blueprint import api_bp
from marketplace.api.problems import render_error
from marketplace.core.errors import register_error_renderer

from marketplace.api import webhooks as _webhooks
from marketplace.api.spec import register_document_route

register_document_route(api_bp)
_webhooks.install(_Session)

from marketplace.api import limits, auth, views
from marketplace.api import ledger
from marketplace.api import settlement


def init_app(app: Flask) -> None:
    """Register the API's blueprint and its own error shape: every error under /api/ is problem+json."""
    app.register_blueprint(api_bp)
    register_error_renderer(app, api_bp.url_prefix + "/", render_error)
