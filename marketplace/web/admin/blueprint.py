"""The administration's blueprint, on which the member, user, audit and category pages register."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
