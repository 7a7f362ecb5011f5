"""HTTP API v1: thin JSON views over the same operations as the HTML pages."""

from __future__ import annotations

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from marketplace.api import auth, views  # noqa: E402, F401  (routes register on import)
