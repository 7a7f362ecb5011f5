"""The API's blueprint (``/api/v1``), on which every API module registers its routes."""

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
