"""The edge for writes of the HTML pages: one commit per request, and a failed operation shown on its form.

The API's `@operation` (marketplace/api/spec.py) commits once after its view; HTML views that write get the same
shape from two pieces:

- `@writes` wraps the view: it commits once when the response is a success or a redirect (status < 400) and
  rolls back when the view answers 4xx/5xx (a form shown again with its errors) or raises (the error is
  re-raised, so the app's DomainError handler shows the error page or flashes and redirects as before).
- ``with errors_on(form):`` around the call of the operation catches its InvalidInput and Conflict and puts them
  on the form (fields by name, the rest at the top); the view then falls through to render the form again::

      @bp.post("/abrechnung")
      @login_required
      @writes
      def create() -> Response | tuple[str, int]:
          form = SettlementForm()
          if form.validate_on_submit():
              with errors_on(form):
                  settlement = create_settlement(current_user, form.period.data)
                  flash(...)
                  return redirect(...)
          return render_template(..., form=form), 422

A view whose operation may only fail on its input names the kinds it shows on the form:
``errors_on(form, InvalidInput)``; every other domain error goes to the app's handler. A button that answers
with a redirect either way (no form page to show again) uses ``with errors_flashed():`` instead: the error is
rolled back and flashed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec

from flask import current_app, flash, session
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from marketplace.core.errors import Conflict, DomainError, InvalidInput
from marketplace.core.forms import apply_domain_errors
from marketplace.extensions import db

P = ParamSpec("P")


def writes(view: Callable[P, Any]) -> Callable[P, Response]:
    """Commit once after `view` when it answers < 400; roll back when it answers >= 400 or raises."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        flashed = len(session.get("_flashes", []))
        try:
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                db.session.commit()
            else:
                db.session.rollback()
        except BaseException:
            db.session.rollback()
            _forget_flashes_since(flashed)  # "… ist gespeichert." was flashed before the commit failed
            raise
        return response

    return wrapper


def _forget_flashes_since(count: int) -> None:
    if len(session.get("_flashes", [])) > count:
        session["_flashes"] = session["_flashes"][:count]


@contextmanager
def errors_on(form: FlaskForm, *kinds: type[DomainError]) -> Iterator[None]:
    """Show the InvalidInput or Conflict (or only `kinds`) raised inside on `form`, after rolling back.

    The rollback happens at once (not only at the end of the request), so nothing the failed operation
    flushed is visible to the page that shows the form again."""
    shown: tuple[type[DomainError], ...] = kinds or (InvalidInput, Conflict)
    try:
        yield
    except shown as error:
        db.session.rollback()
        apply_domain_errors(form, error)


@contextmanager
def errors_flashed(*kinds: type[DomainError]) -> Iterator[None]:
    """For a button without a form page to show again: the InvalidInput or Conflict (or only `kinds`) raised
    inside is rolled back and flashed, and the view goes on to its redirect (which @writes then commits empty)."""
    shown: tuple[type[DomainError], ...] = kinds or (InvalidInput, Conflict)
    try:
        yield
    except shown as error:
        db.session.rollback()
        flash(error.detail, "danger")
