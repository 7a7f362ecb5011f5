"""Shared building blocks: money, errors, authorisation helpers, pagination, time."""
