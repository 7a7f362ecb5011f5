"""Column types shared by every area."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


def str_enum(cls: type[enum.Enum], name: str, length: int = 30) -> Enum:
    """A Python StrEnum stored as its value in a VARCHAR with a CHECK constraint (portable, migratable)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
