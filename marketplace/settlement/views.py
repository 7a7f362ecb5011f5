"""Settlement pages for finance staff."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("settlement", __name__)
