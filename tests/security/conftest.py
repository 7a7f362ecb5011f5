"""Helpers for the security tests: an application in the production configuration."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

import config
from marketplace import create_app

PRODUCTION_SECRET = "a-long-random-secret-from-the-environment"


def production_app(database_url: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Flask:
    """`MARKETPLACE_CONFIG=production` with SECRET_KEY and DATABASE_URL from the environment."""
    # load_config() writes the environment's values onto the class: restore them after the test.
    monkeypatch.setattr(config.ProductionConfig, "SECRET_KEY", config.ProductionConfig.SECRET_KEY)
    monkeypatch.setattr(
        config.ProductionConfig, "SQLALCHEMY_DATABASE_URI", config.ProductionConfig.SQLALCHEMY_DATABASE_URI
    )
    monkeypatch.setenv("MARKETPLACE_CONFIG", "production")
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_SECRET)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return create_app(None, **overrides)
