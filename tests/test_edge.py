"""The edge for writes of the HTML pages (marketplace/core/edge.py): `@writes` commits once after a view that
answers < 400 and rolls back otherwise; `errors_on(form)` shows a failed operation's error on its form."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, flash, has_request_context, redirect, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import InputRequired

from marketplace.core.edge import errors_on, writes
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.forms import Form
from marketplace.extensions import csrf, db
from marketplace.members.models import Member, MemberKind
from tests.conftest import csrf_token, login

PAGE = (
    "{% for e in form.form_errors %}<p class=top>{{ e }}</p>{% endfor %}"
    "{% for e in form.name.errors %}<p class=field>{{ e }}</p>{% endfor %}"
)


class NameForm(Form):
    name = StringField(validators=[InputRequired()])


def _add_member(name: str) -> None:
    """The operation's first step: a row that is flushed (visible inside the transaction) before it fails."""
    db.session.add(Member(name=name, kind=MemberKind.MUNICIPALITY))
    db.session.flush()


def _members(name: str) -> int:
    db.session.remove()  # a fresh session: only what was committed
    return db.session.scalar(select(func.count()).select_from(Member).where(Member.name == name)) or 0


@pytest.fixture
def edge_client(app: Flask, monkeypatch: pytest.MonkeyPatch) -> tuple[FlaskClient, list[int]]:
    """A client of three test views, and the list that counts the session's commits."""
    commits: list[int] = []
    commit = db.session.commit

    def counted() -> None:
        if has_request_context():  # the test client commits the test's own transaction first
            commits.append(1)
        commit()

    monkeypatch.setattr(db.session, "commit", counted)

    @writes
    def create() -> Any:
        form = NameForm(meta={"csrf": False})
        if form.validate_on_submit():
            with errors_on(form):
                _add_member(form.name.data)
                if form.name.data.startswith("Doppelt"):
                    raise InvalidInput.field("name", "Den Namen %(name)s gibt es schon.", name=form.name.data)
                if form.name.data.startswith("Voll"):
                    raise Conflict("Kein Platz mehr für %(name)s.", name=form.name.data)
                flash("Angelegt.", "success")
                return redirect("/")
        return render_template_string(PAGE, form=form), 422

    @writes
    def create_narrow() -> Any:
        """Shows only InvalidInput on the form: a Conflict goes to the app's handler."""
        form = NameForm(meta={"csrf": False})
        if form.validate_on_submit():
            with errors_on(form, InvalidInput):
                _add_member(form.name.data)
                raise Conflict("Kein Platz mehr für %(name)s.", name=form.name.data)
        return render_template_string(PAGE, form=form), 422

    @writes
    def crash() -> Any:
        _add_member("Absturz")
        raise RuntimeError("boom")

    for rule, view in (("/_edge/create", create), ("/_edge/narrow", create_narrow), ("/_edge/crash", crash)):
        app.add_url_rule(rule, view_func=csrf.exempt(view), methods=["POST"])
    return app.test_client(), commits


def test_success_commits_once(edge_client: tuple[FlaskClient, list[int]]) -> None:
    client, commits = edge_client
    response = client.post("/_edge/create", data={"name": "Gemeinde Neu"})
    assert response.status_code == 302
    assert commits == [1]
    assert _members("Gemeinde Neu") == 1


def test_invalid_input_leaves_nothing_and_shows_on_its_field(edge_client: tuple[FlaskClient, list[int]]) -> None:
    client, commits = edge_client
    response = client.post("/_edge/create", data={"name": "Doppelt 1"})
    assert response.status_code == 422
    assert "<p class=field>Den Namen Doppelt 1 gibt es schon.</p>" in response.text
    assert commits == []
    assert _members("Doppelt 1") == 0


def test_conflict_shows_at_the_top_of_the_form(edge_client: tuple[FlaskClient, list[int]]) -> None:
    client, commits = edge_client
    response = client.post("/_edge/create", data={"name": "Voll 1"})
    assert response.status_code == 422
    assert "<p class=top>Kein Platz mehr für Voll 1.</p>" in response.text
    assert commits == []
    assert _members("Voll 1") == 0


def test_domain_error_not_caught_goes_to_the_handler_and_rolls_back(
    edge_client: tuple[FlaskClient, list[int]],
) -> None:
    client, commits = edge_client
    response = client.post("/_edge/narrow", data={"name": "Voll 2"}, headers={"Referer": "http://localhost/x"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/x")  # flashed, as before
    with client.session_transaction() as session:
        assert ("danger", "Kein Platz mehr für Voll 2.") in session["_flashes"]
    assert commits == []
    assert _members("Voll 2") == 0


def test_raised_error_rolls_back(edge_client: tuple[FlaskClient, list[int]]) -> None:
    client, commits = edge_client
    response = client.post("/_edge/crash")
    assert response.status_code == 500
    assert commits == []
    assert _members("Absturz") == 0


def test_a_failed_commit_takes_back_the_success_message(
    edge_client: tuple[FlaskClient, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _commits = edge_client

    def refuse() -> None:
        if has_request_context():
            raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(db.session, "commit", refuse)
    response = client.post("/_edge/create", data={"name": "Gemeinde Spät"})
    assert response.status_code == 500
    assert "Angelegt." not in response.text  # the error page shows the flashed messages
    with client.session_transaction() as session:
        assert ("success", "Angelegt.") not in session.get("_flashes", [])
    assert _members("Gemeinde Spät") == 0


def test_invalid_form_rolls_back_without_commit(edge_client: tuple[FlaskClient, list[int]]) -> None:
    client, commits = edge_client
    response = client.post("/_edge/create", data={"name": ""})  # the form refuses it
    assert response.status_code == 422
    assert commits == []


def test_a_parameterised_domain_error_reads_english_on_an_english_page(app: Flask, demo: None) -> None:
    """The template of the error is what the catalogue translates; its parameter is filled in afterwards."""
    operator = app.test_client()
    login(operator, "betrieb@kopit.example")
    operator.get("/sprache/en")
    page = operator.get("/admin/members")
    response = operator.post(
        "/admin/members",
        data={
            "name": "Stadt Wiesbaden",
            "kind": "municipality",
            "street": "Jockel-Fuchs-Platz 1",
            "postcode": "55116",
            "city": "Mainz",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert response.status_code == 422
    assert "A member named “Stadt Wiesbaden” already exists." in response.text
    assert "gibt es bereits" not in response.text
    assert _members("Stadt Wiesbaden") == 1
