"""The pages: the provider plans and manages, participants see their own share, others see nothing."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from marketplace.costsharing.models import CostSharingPlan, KoenigsteinValue
from marketplace.extensions import db
from tests.conftest import login, post_form
from tests.costsharing.conftest import accept, member

KDZ = "anbieter@kdz-mainz.example"


def fresh(app, email):
    """A new browser session logged in as `email`."""
    client = app.test_client()
    login(client, email)
    return client


def _create_plan_through_the_form(client, shared_service, key="equal"):
    service = shared_service()
    login(client, KDZ)
    response = post_form(
        client,
        "/cost-sharing/",
        "/cost-sharing/",
        {"service_id": service.id, "year": "2026", "planned_cost": "12.000,00", "allocation_key": key},
    )
    assert response.status_code == 302, response.text
    plan = db.session.scalar(select(CostSharingPlan))
    assert plan.planned_cost_cents == 1_200_000
    return plan


def _add(client, plan, name, joins, leaves="", **extra):
    url = f"/cost-sharing/{plan.id}"
    data = {"p-member_id": member(name).id, "p-joins_on": joins, "p-leaves_on": leaves, **extra}
    response = post_form(client, url, f"{url}/participants", data)
    if response.status_code == 302:
        accept(plan, name)  # the invited member's staff agree
        db.session.commit()
    return response


def test_provider_plans_and_participants_see_only_their_own_share(app, demo, client, shared_service):
    plan = _create_plan_through_the_form(client, shared_service)
    assert _add(client, plan, "Stadt Wiesbaden", "2026-01-01").status_code == 302
    assert _add(client, plan, "Landkreis Darmstadt-Dieburg", "2026-04-01").status_code == 302
    rejected = _add(client, plan, "Stadt Wiesbaden", "2026-02-01")
    # taking part already: not offered any more, and a forged choice is refused
    assert rejected.status_code == 422
    offered = rejected.text.split('id="p-member_id"', 1)[1].split("</select>", 1)[0]
    assert "Stadt Wiesbaden" not in offered and "KOPIT eG" not in offered and "KDZ Mainz" not in offered
    assert "ekom21" in offered
    wrong_dates = _add(client, plan, "ekom21", "2026-05-01", "2026-03-01")
    assert wrong_dates.status_code == 422 and "nicht vor dem Beitritt" in wrong_dates.text

    page = client.get(f"/cost-sharing/{plan.id}?actual=13000")
    assert page.status_code == 200
    assert "Stadt Wiesbaden" in page.text and "Landkreis Darmstadt-Dieburg" in page.text
    assert "Vorschau der Spitzabrechnung bei tatsächlichen Kosten von 13.000,00" in page.text
    # 365 and 275 days of equal weight: 12,000.00 € split 365:275
    exported = client.get(f"/cost-sharing/{plan.id}/shares.csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")), delimiter=";"))
    assert [(r["mitglied"], r["tage"], r["plan_anteil"]) for r in rows] == [
        ("Stadt Wiesbaden", "365", "6843.75"),
        ("Landkreis Darmstadt-Dieburg", "275", "5156.25"),
    ]

    client = fresh(app, "einkauf@wiesbaden.example")
    own = client.get(f"/cost-sharing/{plan.id}")
    assert own.status_code == 200 and "Ihr Anteil" in own.text
    assert "Landkreis Darmstadt-Dieburg" not in own.text
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/cost-sharing/{plan.id}/shares.csv").text.lstrip("\ufeff")), delimiter=";"
        )
    )
    assert [r["mitglied"] for r in rows] == ["Stadt Wiesbaden"]
    # a participant may not manage the plan
    assert client.post(f"/cost-sharing/{plan.id}/true-up", data={}).status_code in (400, 403)
    listing = client.get("/cost-sharing/")
    assert "Gemeinsames Kommunalnetz" in listing.text

    client = fresh(app, "anbieter@ekom21.example")  # neither provider nor participant
    assert client.get(f"/cost-sharing/{plan.id}").status_code == 404
    assert client.get(f"/cost-sharing/{plan.id}/shares.csv").status_code == 404
    assert client.get(f"/cost-sharing/{plan.id}/advances.csv").status_code == 404


def test_operator_enters_koenigstein_values_and_others_may_not(app, demo, client):
    login(client, "betrieb@kopit.example")
    response = post_form(
        client,
        "/cost-sharing/koenigstein?year=2026",
        "/cost-sharing/koenigstein",
        {"year": "2026", "member_id": member("Stadt Wiesbaden").id, "value": "7,44344"},
    )
    assert response.status_code == 302
    value = db.session.scalar(select(KoenigsteinValue))
    assert str(value.value) == "7.44344"
    page = client.get("/cost-sharing/koenigstein?year=2026")
    assert "7,44344" in page.text
    bad = post_form(
        client,
        "/cost-sharing/koenigstein",
        "/cost-sharing/koenigstein",
        {"year": "2026", "member_id": member("Stadt Wiesbaden").id, "value": "7,443441"},
    )
    assert bad.status_code == 422 and "fünf Nachkommastellen" in bad.text
    client = fresh(app, KDZ)
    assert client.get("/cost-sharing/koenigstein").status_code == 403


def test_a_participant_entered_by_mistake_is_removed_until_advances_are_charged(app, demo, client, shared_service):
    from marketplace.monthend.billing import run_billing
    from tests.costsharing.conftest import user

    plan = _create_plan_through_the_form(client, shared_service)
    _add(client, plan, "Stadt Wiesbaden", "2026-01-01")
    _add(client, plan, "ekom21", "2026-01-01")
    url = f"/cost-sharing/{plan.id}"
    ekom = plan.participant_of(member("ekom21").id)
    assert post_form(client, url, f"{url}/participants/{ekom.id}/remove", {}).status_code == 302
    db.session.expire_all()
    assert [p.member.name for p in db.session.get(CostSharingPlan, plan.id).participants] == ["Stadt Wiesbaden"]
    run_billing(user("betrieb@kopit.example"), "2026-10")  # the first open month of the demo
    db.session.commit()
    wiesbaden = db.session.get(CostSharingPlan, plan.id).participant_of(member("Stadt Wiesbaden").id)
    page = client.get(url)
    assert "Stadt Wiesbaden entfernen" not in page.text
    refused = post_form(client, url, f"{url}/participants/{wiesbaden.id}/remove", {})
    assert refused.status_code == 302
    assert "schon Abschläge berechnet" in client.get(url).text
    db.session.expire_all()
    assert len(db.session.get(CostSharingPlan, plan.id).participants) == 1
