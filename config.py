"""Configuration of the Leistungsbörse.

`MARKETPLACE_CONFIG` chooses one of the classes below (development by default); everything that differs
between machines comes from the environment, never from the repository.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class BaseConfig:
    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "marketplace" / "translations")
    LANGUAGES = ("de", "en")
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: A session cookie is accepted for this long after it was issued (Flask checks the signature's age), so a
    #: copied cookie stops working after a working day instead of Flask's default 31 days.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=int(_env("SESSION_HOURS", "10") or 10))
    REMEMBER_COOKIE_HTTPONLY = True
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = _env("LOGIN_RATE_LIMIT", "10 per minute")
    #: Failed logins before a temporary lockout (marketplace/core/login_guard.py): per account, per address.
    LOGIN_LOCKOUT_ACCOUNT = _env("LOGIN_LOCKOUT_ACCOUNT", "5 per 15 minutes")
    LOGIN_LOCKOUT_ADDRESS = _env("LOGIN_LOCKOUT_ADDRESS", "20 per 15 minutes")
    PER_PAGE = 20
    #: "json" for one structured line per event (marketplace/core/logs.py), "text" for Flask's default.
    LOG_FORMAT = _env("LOG_FORMAT", "text")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    #: werkzeug hash method for passwords; scrypt with its default cost (n=2**15) outside tests.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a hash method, not a password
    STRIPE_API_BASE = _env("STRIPE_API_BASE", "https://api.stripe.com")
    STRIPE_API_KEY = _env("STRIPE_API_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    #: Billing runs of more bookings than this run as jobs (202 and progress) instead of inside the request
    #: (marketplace/monthend/billing.py); 20,000 take 2-4 s on the reference machine (docs/PERFORMANCE.md), so
    #: the default leaves a wide margin below gunicorn's 30 s for slower machines and busy databases.
    BILLING_JOB_THRESHOLD = int(_env("BILLING_JOB_THRESHOLD", "20000") or 20000)
    #: Days from a settlement to the due date of its payment advices (marketplace/settlement/advices.py).
    ADVICE_DAYS = int(_env("ADVICE_DAYS", "10") or 10)
    #: With Redis, jobs wait in a queue there for `flask billing worker`; without it they run in a thread of
    #: the process that started them (marketplace/monthend/jobs.py).
    REDIS_URL = _env("REDIS_URL")
    #: Where people reach the site, e.g. ``https://boerse.kopit.example``: e-mails link there (absolute links,
    #: written outside any request, e.g. by a billing run from the CLI). Without it a request's own address is
    #: used, and outside a request ``http://127.0.0.1:5000`` (development only).
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", _env("BASE_URL"))
    #: The day the application believes it is; tests and demos pin it, production leaves it unset.
    MARKETPLACE_TODAY = _env("MARKETPLACE_TODAY")
    #: The DATEV export's settings as JSON: chart, consultant and client number, accounts, per member
    #: (docs/DATEV.md); unset: SKR 03 with the documented default accounts.
    DATEV_ACCOUNTS: dict = json.loads(_env("DATEV_ACCOUNTS", "{}") or "{}")


class DevelopmentConfig(BaseConfig):
    DEBUG = False
    SECRET_KEY = _env("SECRET_KEY", "development-only-not-secret")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'marketplace.db'}")


class TestingConfig(BaseConfig):
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"  # noqa: S105 - fixed key for the test suite only
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "sqlite:///:memory:")
    WTF_CSRF_ENABLED = True
    LOGIN_RATE_LIMIT = "1000 per minute"
    #: Still scrypt, at a cost that keeps the suite fast (hashes made here never protect real accounts).
    PASSWORD_HASH_METHOD = "scrypt:4096:8:1"  # noqa: S105 - a hash method, not a password


class ProductionConfig(BaseConfig):
    LOG_FORMAT = _env("LOG_FORMAT", "json")
    #: Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto are trusted (docs/OPERATIONS.md).
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "1") or 1)
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


class ConfigurationError(RuntimeError):
    """The environment does not provide what the chosen configuration needs."""


def load_config(name: str | None = None) -> type[BaseConfig]:
    """Return the configuration class for `name` (or `MARKETPLACE_CONFIG`), checking what it requires."""
    name = name or _env("MARKETPLACE_CONFIG", "development")
    if name not in CONFIGS:
        raise ConfigurationError(f"MARKETPLACE_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}")
    config = CONFIGS[name]
    if name == "production":
        missing = [key for key in ("SECRET_KEY", "DATABASE_URL") if not _env(key)]
        if missing:
            raise ConfigurationError(f"production needs {' and '.join(missing)} in the environment")
        config.SECRET_KEY = _env("SECRET_KEY")
        config.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")
    return config
