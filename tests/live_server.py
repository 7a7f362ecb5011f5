"""A real HTTP server around the test's application, for what only a real server shows.

The test client runs a response's body inside the test's own application context, so a streamed body
that needs the request (or the database session) after the view returned works there and breaks in
production. Streamed downloads are therefore tested against werkzeug's server on a free port, through
`requests`, as a browser or `curl` would fetch them.

Use the `live_server` fixture (tests/conftest.py)::

    def test_download(live_server, demo):
        http = live_server.login("betrieb@kopit.example")
        response = http.get(live_server.url + "/ledger/exports/journal.csv")
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from marketplace.extensions import db

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class LiveSession(requests.Session):
    """A `requests` session that first ends the test's own transaction, like the test client does.

    On SQLite every transaction is a BEGIN IMMEDIATE, so a test that has read something holds the write
    lock until it commits; the server's request would wait for it. Committing first also makes what the
    test wrote visible to the server, and what the server wrote visible to the test afterwards.
    """

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        from flask.globals import _cv_app

        if _cv_app.get(None) is not None:
            db.session.commit()
        kwargs.setdefault("timeout", 60)
        return super().request(*args, **kwargs)


class LiveServer:
    """The running server: its base `url` and sessions logged in through the real login form."""

    def __init__(self, url: str) -> None:
        self.url = url

    def session(self) -> LiveSession:
        return LiveSession()

    def login(self, email: str, password: str = "demo-passwort") -> LiveSession:
        """A session logged in through /login with the form's CSRF token, as a browser would."""
        http = self.session()
        page = http.get(self.url + "/login")
        match = _CSRF_RE.search(page.text)
        assert match, "login page has no CSRF token"
        response = http.post(
            self.url + "/login",
            data={"email": email, "password": password, "csrf_token": match.group(1)},
            headers={"Referer": self.url + "/login"},
            allow_redirects=False,
        )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return http


@contextmanager
def serve(app: Flask) -> Iterator[LiveServer]:
    """Serve `app` with werkzeug's threaded server on a free local port until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
