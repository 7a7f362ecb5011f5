"""Fixtures for the money pages: demo users by e-mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def user(app: Any) -> Callable[[str], Any]:
    from marketplace.members.queries import user_by_email

    return user_by_email
