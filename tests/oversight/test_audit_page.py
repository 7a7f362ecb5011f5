"""The audit trail as a clerk reads it: Berlin time, actions and fields by name, euros instead of cents."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.members.models import Member
from tests.conftest import login


def _operator(app):
    client = app.test_client()
    login(client, "betrieb@kopit.example")
    return client


def test_times_are_local_and_money_is_in_euros(app, demo):
    kdz = db.session.scalar(select(Member).where(Member.name == "KDZ Mainz"))
    # a billing run at 23:30 UTC on 31 October is 00:30 on 1 November in Berlin (winter time, UTC+1)
    db.session.add(
        AuditEvent(
            actor_id=None,
            member_id=kdz.id,
            action="billing.run",
            object_type="BillingRun",
            object_id=1,
            at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
            data={"period": "2026-10", "created": 6, "total": 123456, "skipped": []},
        )
    )
    # and one in summer time (UTC+2)
    db.session.add(
        AuditEvent(
            actor_id=None,
            member_id=kdz.id,
            action="settlement.approved",
            object_type="Settlement",
            object_id=1,
            at=datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
            data={"period": "2026-06"},
        )
    )
    db.session.commit()
    page = _operator(app).get(f"/admin/audit?member_id={kdz.id}").text
    assert "01.11.2026, 00:30" in page and "31.10.2026, 23:30" not in page
    assert "01.07.2026, 12:00" in page
    assert "Abrechnungslauf" in page and "1.234,56" in page and "123456" not in page
    assert "Verrechnung freigegeben" in page
    assert "(UTC)" not in page


def test_the_action_filter_offers_names_and_still_takes_a_key(app, demo):
    operator = _operator(app)
    page = operator.get("/admin/audit").text
    assert '<option value="member.created"' in page and "Mitglied aufgenommen" in page
    filtered = operator.get("/admin/audit?action=member.created").text
    assert '<span class="lb-audit-key">member.created</span>' in filtered
    assert '<span class="lb-audit-key">service.created</span>' not in filtered
    by_prefix = operator.get("/admin/audit?action=service.").text
    assert '<span class="lb-audit-key">service.created</span>' in by_prefix and "beginnt mit" in by_prefix
