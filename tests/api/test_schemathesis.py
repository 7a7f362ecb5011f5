"""Schemathesis against the live app (WSGI) and its own OpenAPI document, as the operator and as a buyer.

Every operation gets at least 50 generated examples (positive and negative), then a stateful run follows
the document's links (create a booking, then read, accept, decline, withdraw, cancel it …). Checks: no
server error, responses conform to the document (schema, status codes, content types), authentication
is enforced (the same request without a token and with a wrong one must be refused), and invalid input
is rejected with a 4xx.

One database per module (seeded once): generated requests pile up data as real clients would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import event

from marketplace import create_app
from marketplace.extensions import db
from tests.conftest import BACKEND, _reset_postgres, make_app

_AUTH_CONFIRMED: set[str] = set()


def auth_enforced(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' ``ignored_auth`` (repeat the request without a token and with a wrong one: both must
    be refused), once per operation and identity: enforcement is a property of the operation, and probing
    every successful response would triple the run (the CLI caches it the same way)."""
    if not 200 <= response.status_code < 300:
        return None
    key = f"{case.operation.label} {response.request.headers.get('Authorization', '')}"
    if key in _AUTH_CONFIRMED:
        return None
    result = ignored_auth(ctx, response, case)
    _AUTH_CONFIRMED.add(key)
    return result


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    auth_enforced,
    negative_data_rejection,
]
IDENTITIES = {"operator": "betrieb@kopit.example", "buyer": "einkauf@wiesbaden.example"}
EXAMPLES = 50


def _document() -> dict[str, Any]:
    """The document as the running app serves it (no database needed to render it)."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


class LiveApp:
    """The WSGI app the generated requests (and the checks' own probes) go to: the module's live app."""

    target: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.target is not None, "live_app fixture not active"
        return self.target(environ, start_response)


LIVE = LiveApp()
schema = schemathesis.openapi.from_dict(_document())
schema.app = LIVE


@pytest.fixture(scope="module")
def live_app(database_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    if BACKEND == "postgresql":
        _reset_postgres(database_template)
        url = database_template
    else:
        target = tmp_path_factory.mktemp("schemathesis") / "live.db"
        shutil.copyfile(database_template, target)
        url = f"sqlite:///{target}"
    app = make_app(url, API_RATE_LIMIT="1000000 per minute")
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            # Thousands of small commits: skip the fsync of each (a throwaway database).
            db.engine.dispose()
            event.listen(db.engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=OFF"))
        from marketplace.members.operations import create_api_token
        from marketplace.members.queries import user_by_email
        from marketplace.seed import seed_demo_data

        seed_demo_data()
        db.session.commit()
        tokens = {}
        for name, email in IDENTITIES.items():
            _token, plain = create_api_token(user_by_email(email), "schemathesis")
            tokens[name] = plain
        db.session.commit()
        app.config["SCHEMATHESIS_TOKENS"] = tokens
        LIVE.target = app
        yield app
        LIVE.target = None
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=sorted(IDENTITIES))
def identity(request: pytest.FixtureRequest, live_app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_app.config['SCHEMATHESIS_TOKENS'][request.param]}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation(case, live_app, identity):
    case.call_and_validate(headers=identity, checks=CHECKS)


@pytest.mark.parametrize("who", sorted(IDENTITIES))
def test_stateful_links(live_app, who):
    headers = {"Authorization": f"Bearer {live_app.config['SCHEMATHESIS_TOKENS'][who]}"}

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)

    Machine.run(
        settings=settings(
            max_examples=30,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
