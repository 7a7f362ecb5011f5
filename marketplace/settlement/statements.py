"""The member's statement, as a page (and its print version) and as CSV, with the document behind each line.

Both join the ledger's pages (addresses and endpoints `ledger.statement` and `ledger.statement_csv` stay those
of the statements): the statement is the ledger's, the documents behind its lines (invoices, credit notes,
payment advices, settlements and their payments) are settlement's, and settlement builds on the ledger, so
only a module here knows both."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_login import current_user

from marketplace.core.timeutil import period_of, today
from marketplace.ledger import exports
from marketplace.ledger.operations import counts_as_closed, latest_closed_period
from marketplace.ledger.reports import statement_for
from marketplace.ledger.views import FINANCE, bp, period_or_404, statement_member
from marketplace.members.auth import role_required
from marketplace.settlement.queries import may_see_advice
from marketplace.settlement.references import line_documents


@bp.get("/statements/<int:member_id>/<period>")
@role_required(*FINANCE)
def statement(member_id: int, period: str) -> str:
    member = statement_member(member_id)
    data = statement_for(member, period_or_404(period))
    template = "ledger/statement_print.html" if request.args.get("print") else "ledger/statement.html"
    return render_template(
        template,
        statement=data,
        member=member,
        documents=line_documents(member.id, [entry.transfer_id for entry in data.entries]),
        # a charge and its reversal in the same month stand on no document: each names the other instead
        reverses={line.transfer_id: line.reverses_id for line in data.reversals if line.reverses_id},
        reversed_by={line.reverses_id: line.transfer_id for line in data.reversals if line.reverses_id},
        month_closed=counts_as_closed(data.period, latest_closed_period()),
        entry_label=exports.entry_label,
        may_see_advice=lambda member_id: may_see_advice(current_user, member_id),
        today=today(),
        current_period=period_of(today()),
    )


@bp.get("/statements/<int:member_id>/<period>.csv")
@role_required(*FINANCE)
def statement_csv(member_id: int, period: str) -> Response:
    member = statement_member(member_id)
    data = statement_for(member, period_or_404(period))
    documents = line_documents(member.id, [entry.transfer_id for entry in data.entries])
    numbers = {transfer_id: found.number for transfer_id, found in documents.items() if found.number}
    others = {transfer_id: found.counterparty for transfer_id, found in documents.items()}
    return exports.csv_response(exports.statement_csv(data, numbers, others), f"kontoauszug-{member.id}-{period}.csv")
