"""Ledger endpoints of the API: the journal of postings, reversals and closing months (finance roles)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.schemas import MultiLine, PageLinks, PeriodStr, SingleLine, page_out, query_int
from marketplace.api.spec import MAX_ID, ApiModel, Money, QueryModel, money, operation
from marketplace.core.errors import PermissionDenied
from marketplace.core.pagination import MAX_PAGE, MAX_PER_PAGE, paginate
from marketplace.core.timeutil import PERIOD_PATTERN
from marketplace.ledger.models import Period, Transfer
from marketplace.ledger.operations import reverse_transfer
from marketplace.ledger.queries import journal_statement, reversals_of
from marketplace.members.models import Member, User
from marketplace.members.permissions import require_operator_finance
from marketplace.members.queries import visible_ledger_member
from marketplace.monthend.close import close_period


class PostingOut(ApiModel):
    posting_id: int
    transfer_id: int
    cause: str = Field(description="Der Idempotenzschlüssel der Buchung, aus ihrem Anlass abgeleitet.")
    kind: str
    period: str
    description: str
    booking_id: int | None
    reverses_transfer_id: int | None
    reversed_by_transfer_id: int | None
    member_id: int
    member_name: str
    account: str = Field(description="clearing, bank oder in_transit")
    amount: Money = Field(description="Was das Konto durch diesen Posten gewinnt (negativ: Belastung).")
    created_at: datetime


class PostingPage(ApiModel):
    """Eine Seite Buchungsposten."""

    items: list[PostingOut]
    page: int
    per_page: int
    total: int
    links: PageLinks


class TransferPosting(ApiModel):
    member_id: int
    member_name: str
    account: str
    amount: Money


class TransferOut(ApiModel):
    id: int
    cause: str
    kind: str
    period: str
    description: str
    amount: Money
    booking_id: int | None
    reverses_transfer_id: int | None
    created_at: datetime
    created_by: str | None
    hash: str
    postings: list[TransferPosting]


class TransfersQuery(QueryModel):
    member_id: query_int(ge=1, le=MAX_ID) | None = None  # type: ignore[valid-type]
    period: PeriodStr | None = None
    page: query_int(ge=1, le=MAX_PAGE) = 1  # type: ignore[valid-type]
    per_page: query_int(ge=1, le=MAX_PER_PAGE) = 50  # type: ignore[valid-type]


class ReverseBody(ApiModel):
    #: One line: the reason becomes part of the booking text (journal, DATEV Buchungstext).
    reason: Annotated[str, StringConstraints(min_length=1, max_length=300), SingleLine]


class CloseBody(ApiModel):
    reason: Annotated[str, StringConstraints(max_length=300), MultiLine] = Field(
        default="", description="Optional: warum jetzt abgeschlossen wird (für das Prüfprotokoll)."
    )


class PeriodOut(ApiModel):
    period: str
    status: str
    closed_at: datetime | None
    closed_by: str | None


def _require_finance(user: User) -> None:
    if not user.is_finance:
        raise PermissionDenied("Das Hauptbuch sehen nur Finanzrollen.")


def transfer_out(transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=transfer.id,
        cause=transfer.idempotency_key,
        kind=transfer.kind.value,
        period=transfer.period,
        description=transfer.description,
        amount=money(transfer.amount_cents),
        booking_id=transfer.booking_id,
        reverses_transfer_id=transfer.reverses_id,
        created_at=transfer.created_at,
        created_by=transfer.created_by.email if transfer.created_by else None,
        hash=transfer.hash,
        postings=[
            TransferPosting(
                member_id=p.account.member_id,
                member_name=p.account.member.name,
                account=p.account.kind.value,
                amount=money(p.amount_cents),
            )
            for p in transfer.postings
        ],
    )


@operation(
    api_bp,
    "GET",
    "/ledger/transfers",
    query=TransfersQuery,
    responses={200: PostingPage},
    summary="Buchungsposten (Journal)",
    tags=["ledger"],
)
def list_ledger_transfers(query: TransfersQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Postings with their transfers, newest first. Operator finance sees every member (optionally one via
    `member_id`); member finance sees only its own member (another `member_id` is 404)."""
    user = api_user()
    _require_finance(user)
    member_id = visible_ledger_member(user, query.member_id)
    page = paginate(journal_statement(member_id, query.period), query.page, query.per_page, scalars=False)
    reversed_by = reversals_of(sorted({transfer.id for _p, transfer, _a, _m in page.items}))

    def posting_out(row: tuple[Any, Transfer, Any, Member]) -> PostingOut:
        posting, transfer, account, member = row
        return PostingOut(
            posting_id=posting.id,
            transfer_id=transfer.id,
            cause=transfer.idempotency_key,
            kind=transfer.kind.value,
            period=transfer.period,
            description=transfer.description,
            booking_id=transfer.booking_id,
            reverses_transfer_id=transfer.reverses_id,
            reversed_by_transfer_id=reversed_by.get(transfer.id),
            member_id=member.id,
            member_name=member.name,
            account=account.kind.value,
            amount=money(posting.amount_cents),
            created_at=transfer.created_at,
        )

    body, headers = page_out(page, posting_out)
    return body, 200, headers


@operation(
    api_bp,
    "POST",
    "/ledger/transfers/<int:transfer_id>/reverse",
    body=ReverseBody,
    responses={201: TransferOut, 409: None},
    summary="Buchung stornieren",
    tags=["ledger"],
)
def reverse_ledger_transfer(transfer_id: int, body: ReverseBody) -> tuple[TransferOut, int]:
    """Cancel a transfer by an opposite one that references it, in its month if still open, else in the
    current month. A transfer is reversed at most once (409); a reversal cannot be reversed (409)."""
    user = api_user()
    reversal = reverse_transfer(user, transfer_id, body.reason)
    return transfer_out(reversal), 201


@operation(
    api_bp,
    "POST",
    "/periods/<period>/close",
    body=CloseBody,
    responses={200: PeriodOut, 409: None},
    summary="Monat abschließen (in Monatsfolge, abgerechnet, Verbrauch geprüft)",
    tags=["ledger"],
    path_params={"period": {"type": "string", "pattern": PERIOD_PATTERN, "examples": ["2026-10"]}},
)
def close_ledger_period(period: str, body: CloseBody) -> PeriodOut:
    """Close a month that is over: nothing can be posted into it afterwards; the close issues its invoices.
    409 if it is already closed (every month before a closed one counts as closed) or not yet over, and 409
    with `outstanding: [{kind, id, detail}]` while an earlier month is open, a billing run unfinished, a
    charge missing (run the billing), or usage of the month in review or disputed. A `reason` lets the
    operator close past usage in review and disputes only (audited; that usage is billed later as an
    adjustment in the next open month); 422 for a malformed month."""
    user = api_user()
    require_operator_finance(user, "Monate abschließen")
    row: Period = close_period(user, period, body.reason)
    return PeriodOut(
        period=row.period,
        status=row.status.value,
        closed_at=row.closed_at,
        closed_by=user.email,
    )
