"""HTTP API v1: thin JSON views over the same operations as the HTML pages.

Routes are declared with ``marketplace.api.spec.operation`` (read its docstring), which also feeds the
generated OpenAPI document at ``GET /api/v1/openapi.json``. Area modules add one import line below.
"""

# ruff: noqa: E402, F401, I001  (routes register on import, one line per area)

from __future__ import annotations

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from marketplace.api.spec import register_document_route

register_document_route(api_bp)

from marketplace.api import limits, auth, views
from marketplace.api import ledger
from marketplace.api import settlement
