"""Idempotency-Key on POST requests (placeholder until the stored-response table exists)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response


def idempotent(run: Callable[[], Response]) -> Response:
    return run()
