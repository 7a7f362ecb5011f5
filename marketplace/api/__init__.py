"""HTTP API v1: thin JSON views over the same operations as the HTML pages.

Routes are declared with ``marketplace.api.spec.operation`` (read its docstring), which also feeds the
generated OpenAPI document at ``GET /api/v1/openapi.json``. Area modules add one import line below.
"""

# ruff: noqa: E402, F401, I001  (routes register on import, one line per area)

from __future__ import annotations

from flask import Flask, Response, request

from marketplace.api.blueprint import api_bp
from marketplace.api.problems import render_error
from marketplace.core.errors import register_error_renderer

from marketplace.api.spec import register_document_route

register_document_route(api_bp)

from marketplace.api import limits, auth, views
from marketplace.api import ledger
from marketplace.api import settlement
from marketplace.api import charges
from marketplace.api import months
from marketplace.api import corrections
from marketplace.api import members


#: API answers with members' money, which no browser or proxy may keep (see marketplace/web: NO_STORE_BLUEPRINTS).
NO_STORE_PATHS = (
    "/api/v1/ledger/",
    "/api/v1/invoices",
    "/api/v1/corrections",
    "/api/v1/settlements",
    "/api/v1/periods",
    "/api/v1/usage",
    "/api/v1/billing-runs",
)


@api_bp.after_request
def no_store_for_money(response: Response) -> Response:
    if request.path.startswith(NO_STORE_PATHS) or request.path.endswith("/charges"):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the API's blueprint and its own error shape: every error under /api/ is problem+json."""
    app.register_blueprint(api_bp)
    register_error_renderer(app, api_bp.url_prefix + "/", render_error)
