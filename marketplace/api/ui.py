"""The API's HTML side: the readable API reference, rendered from the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.api.reference import reference_context

bp = Blueprint("api_ui", __name__, cli_group=None)


@bp.get("/api-docs")
def reference() -> str:
    """The API described for people, rendered on the server from the same OpenAPI document."""
    return render_template("api/reference.html", **reference_context())
