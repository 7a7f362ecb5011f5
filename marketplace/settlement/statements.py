"""The member's statement as CSV, with the number of the document behind each line.

It joins the ledger's pages (address and endpoint `ledger.statement_csv` stay those of the statements):
the statement is the ledger's, the documents (invoices, credit notes, payment advices) are settlement's,
and settlement builds on the ledger, so only a module here knows both."""

from __future__ import annotations

from flask import Response

from marketplace.ledger import exports
from marketplace.ledger.reports import statement_for
from marketplace.ledger.views import FINANCE, bp, period_or_404, statement_member
from marketplace.members.auth import role_required
from marketplace.settlement.queries import document_numbers


@bp.get("/statements/<int:member_id>/<period>.csv")
@role_required(*FINANCE)
def statement_csv(member_id: int, period: str) -> Response:
    member = statement_member(member_id)
    data = statement_for(member, period_or_404(period))
    numbers = document_numbers(member.id, [entry.transfer_id for entry in data.entries])
    return exports.csv_response(exports.statement_csv(data, numbers), f"kontoauszug-{member.id}-{period}.csv")
