"""Leistungsbörse: public bodies exchange IT services at cost.

`create_app()` builds the Flask application: configuration, extensions, blueprints, error handlers, CLI.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session

from config import BaseConfig, load_config
from marketplace.extensions import babel, configure_sqlite, csrf, db, limiter, login_manager, migrate


def _select_locale() -> str:
    """German unless the user chose English (never guessed from the browser: German is the default)."""
    chosen = session.get("lang")
    return chosen if chosen in ("de", "en") else "de"


def create_app(config: str | type[BaseConfig] | None = None, **overrides: object) -> Flask:
    """Build the application. `config` is a name (development, testing, production) or a class."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=False)
    config_class = config if isinstance(config, type) else load_config(config)
    app.config.from_object(config_class)
    app.config.update(overrides)
    url = app.config["SQLALCHEMY_DATABASE_URI"] or ""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(_project_root() / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    limiter.init_app(app)

    _register_models()
    # The factory imports the edges and areas when it builds an app, not when this package is imported:
    # every module of the application imports `marketplace.extensions`, which runs this file first.
    from marketplace import cli, web

    web.init_app(app)
    _register_blueprints(app)
    _subscribe(app)
    cli.init_app(app)
    return app


def _subscribe(app: Flask) -> None:
    """Connect the subscribers of the domain events (`marketplace.core.events`): e-mails and webhooks.

    The areas announce; only the packages listed here hear them (docs/ARCHITECTURE.md, "Domain events")."""
    # imported here like the blueprints below: the application is built from every area, none of them
    # imports this module
    from marketplace import notifications, webhooks

    notifications.init_app(app)
    webhooks.init_app(app)


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _register_models() -> None:
    """Import every model module so that metadata (and Alembic autogenerate) sees all tables."""
    from marketplace.api import models as _api  # noqa: F401
    from marketplace.bookings import models as _bookings  # noqa: F401
    from marketplace.catalogue import models as _catalogue  # noqa: F401
    from marketplace.core import models as _core  # noqa: F401
    from marketplace.corrections import models as _corrections  # noqa: F401
    from marketplace.costsharing import models as _costsharing  # noqa: F401
    from marketplace.ledger import models as _ledger  # noqa: F401
    from marketplace.members import models as _members  # noqa: F401
    from marketplace.monthend import models as _monthend  # noqa: F401
    from marketplace.notifications import models as _notifications  # noqa: F401
    from marketplace.payments import models as _payments  # noqa: F401
    from marketplace.settlement import models as _settlement  # noqa: F401
    from marketplace.webhooks import models as _webhooks  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    # imported here, as in create_app: this package must not import the areas when it is imported
    from marketplace import api
    from marketplace.api.ui import bp as api_ui_bp
    from marketplace.bookings.views import bp as bookings_bp
    from marketplace.catalogue.views import bp as catalogue_bp
    from marketplace.corrections.views import bp as corrections_bp
    from marketplace.costsharing.views import bp as costsharing_bp
    from marketplace.ledger.views import bp as ledger_bp
    from marketplace.members.views import bp as members_bp
    from marketplace.monthend import views as _monthend_views  # noqa: F401 - adds its pages to ledger_bp
    from marketplace.notifications.views import bp as notifications_bp
    from marketplace.payments import views as _payments_views  # noqa: F401 - adds collect to settlement_bp
    from marketplace.settlement import statements as _statements  # noqa: F401 - adds the statement CSV to ledger_bp
    from marketplace.settlement.views import bp as settlement_bp
    from marketplace.web.admin import bp as admin_bp
    from marketplace.web.views import bp as core_bp

    for blueprint in (core_bp, members_bp, catalogue_bp, bookings_bp, ledger_bp, settlement_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(costsharing_bp)
    app.register_blueprint(corrections_bp)
    csrf.exempt(api.api_bp)
    api.init_app(app)
    app.register_blueprint(api_ui_bp)
