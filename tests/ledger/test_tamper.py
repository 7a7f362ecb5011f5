"""Tamper evidence: with the triggers switched off by hand, any rewrite makes `flask ledger verify` fail
and name the first bad transfer."""

from __future__ import annotations

from sqlalchemy import text

from marketplace.extensions import db
from tests.ledger.conftest import triggers_disabled


def verify(app):
    db.session.remove()  # the CLI runs in its own app context; drop ours so it reads committed data
    return app.test_cli_runner().invoke(args=["ledger", "verify"])


def tamper(statement: str, **params) -> None:
    with triggers_disabled():
        db.session.execute(text(statement), params)
        db.session.commit()


def test_intact_ledger_verifies(app, demo):
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "Hauptbuch in Ordnung" in result.output


def test_changed_posting_amount_is_found(app, demo):
    tamper("UPDATE postings SET amount_cents = amount_cents + 1 WHERE transfer_id = 3 AND amount_cents > 0")
    result = verify(app)
    assert result.exit_code == 1
    assert "Erste fehlerhafte Buchung: 3" in result.output


def test_changed_amount_on_both_sides_is_found_by_the_hash(app, demo):
    """Still balanced (both postings moved by 1 €), but the content no longer matches its hash."""
    tamper("UPDATE postings SET amount_cents = amount_cents + 100 WHERE transfer_id = 2 AND amount_cents > 0")
    tamper("UPDATE postings SET amount_cents = amount_cents - 100 WHERE transfer_id = 2 AND amount_cents < 0")
    tamper("UPDATE transfers SET amount_cents = amount_cents + 100 WHERE id = 2")
    result = verify(app)
    assert result.exit_code == 1
    assert "Erste fehlerhafte Buchung: 2" in result.output
    assert "Prüfsumme" in result.output


def test_deleted_posting_is_found(app, demo):
    tamper("DELETE FROM postings WHERE id = (SELECT max(id) FROM postings WHERE transfer_id = 4)")
    result = verify(app)
    assert result.exit_code == 1
    assert "Erste fehlerhafte Buchung: 4" in result.output


def test_deleted_transfer_is_found(app, demo):
    # the attacker removes what refers to it too: the usage record it billed and its line on September's invoice
    db.session.execute(text("UPDATE usage_records SET charge_transfer_id = NULL WHERE charge_transfer_id = 5"))
    db.session.execute(text("DELETE FROM invoice_lines WHERE transfer_id = 5"))
    db.session.execute(text("UPDATE correction_cases SET charge_transfer_id = NULL WHERE charge_transfer_id = 5"))
    db.session.commit()
    tamper("DELETE FROM postings WHERE transfer_id = 5")
    tamper("DELETE FROM transfers WHERE id = 5")
    result = verify(app)
    assert result.exit_code == 1
    assert "Erste fehlerhafte Buchung: 5" in result.output
    assert "Buchung 5 fehlt" in result.output


def test_changed_description_is_found(app, demo):
    tamper("UPDATE transfers SET description = 'unverdächtig' WHERE id = 5")
    result = verify(app)
    assert result.exit_code == 1
    assert "Erste fehlerhafte Buchung: 5" in result.output


def test_changed_cached_balance_is_found(app, demo):
    """Cached balances are not under the triggers, but verify recomputes them."""
    db.session.execute(text("UPDATE accounts SET balance_cents = balance_cents + 1 WHERE id = 2"))
    db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert "Konto 2" in result.output
