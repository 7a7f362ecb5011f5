"""The database itself refuses to rewrite ledger history: UPDATE and DELETE fail on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marketplace.extensions import db
from tests.ledger.conftest import posting_count, transfer_count

STATEMENTS = [
    "UPDATE postings SET amount_cents = amount_cents + 1 WHERE id = (SELECT min(id) FROM postings)",
    "DELETE FROM postings WHERE id = (SELECT min(id) FROM postings)",
    "UPDATE transfers SET description = 'geändert' WHERE id = 1",
    "UPDATE transfers SET amount_cents = amount_cents + 100 WHERE id = 1",
    "DELETE FROM transfers WHERE id = (SELECT max(id) FROM transfers)",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_triggers_refuse_rewriting_history(demo, statement):
    transfers, postings = transfer_count(), posting_count()
    assert transfers > 0
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
        db.session.flush()
    db.session.rollback()
    assert (transfer_count(), posting_count()) == (transfers, postings)


def test_orm_update_of_a_posting_is_refused(demo):
    from marketplace.ledger.models import Posting

    posting = db.session.get(Posting, 1)
    posting.amount_cents += 1
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_inserting_stays_possible(demo, app):
    """The triggers only guard history; new transfers are written as usual."""
    from marketplace.ledger.operations import reverse_transfer
    from marketplace.members.queries import user_by_email

    before = transfer_count()
    reverse_transfer(user_by_email("betrieb@kopit.example"), 1, "Test")
    db.session.commit()
    assert transfer_count() == before + 1
