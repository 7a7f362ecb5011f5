"""The commands of DESIGN.md that people and other systems run: seed-demo, tokens create, ledger verify."""

from sqlalchemy import func, select, text

from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import Member, User


def test_seed_demo_is_idempotent_and_creates_the_documented_logins(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = (
        db.session.scalar(select(func.count()).select_from(Member)),
        db.session.scalar(select(func.count()).select_from(Transfer)),
    )
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "bereits vorhanden" in second.output
    assert (
        db.session.scalar(select(func.count()).select_from(Member)),
        db.session.scalar(select(func.count()).select_from(Transfer)),
    ) == counts

    names = set(db.session.scalars(select(Member.name)))
    core = {"KOPIT eG", "KDZ Mainz", "ekom21", "Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg"}
    # the documented members, and the wider exchange's three providers
    assert names == core | {"ITZ Rheinhessen", "Stadt Darmstadt", "Landesbetrieb Daten und Information"}
    expected_roles = {
        "betrieb@kopit.example": {"operator_admin", "operator_finance"},
        "anbieter@kdz-mainz.example": {"provider"},
        "anbieter@ekom21.example": {"provider"},
        "einkauf@wiesbaden.example": {"buyer"},
        "kasse@wiesbaden.example": {"member_finance"},
        "einkauf@ladadi.example": {"buyer"},
        "pruefung@kopit.example": {"operator_finance"},
    }
    for email, roles in expected_roles.items():
        user = db.session.scalar(select(User).where(User.email == email))
        assert {r.value for r in user.roles} >= roles, email
        page = client.get("/login")
        from tests.conftest import csrf_token

        response = client.post(
            "/login", data={"email": email, "password": "demo-passwort", "csrf_token": csrf_token(page.text)}
        )
        assert response.status_code == 302, email
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/logout").text)})


def test_demo_history_leaves_last_month_billable(app, demo, api_as):
    """Accepted bookings ran through October (today is pinned to 2026-11-16), so October bills right away."""
    assert db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.period == "2026-10")) == 0
    run = api_as("betrieb@kopit.example").post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert run.status_code == 201
    body = run.get_json()
    # Six accepted bookings; the Landkreis service desk ended on 15 October (1,450.00 € × 15/31 = 701.61 €).
    assert body["transfers_created"] == 6
    october = {
        t.description.split(" – ")[0]: t.amount_cents
        for t in db.session.scalars(select(Transfer).where(Transfer.period == "2026-10"))
    }
    assert october["Service-Desk (Second Level)"] == 70161
    assert october["Betrieb von Fachverfahren"] == 118750
    descriptions = set(db.session.scalars(select(Transfer.description).where(Transfer.period == "2026-10")))
    assert "Betrieb von Fachverfahren – 2026-10 (Verbrauch 12,5 Stunden)" in descriptions
    assert "Objektspeicher (S3-kompatibel) – 2026-10 (Verbrauch 5.120 GB-Monate)" in descriptions


def test_tokens_create_prints_a_working_token_on_the_last_line(app, demo, client):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "anbieter@ekom21.example"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["member"]["name"] == "ekom21"
    unknown = app.test_cli_runner().invoke(args=["tokens", "create", "niemand@example.org"])
    assert unknown.exit_code != 0


def test_ledger_verify_passes_on_the_demo_and_fails_on_tampering(app, demo):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "in Ordnung" in ok.output
    # A stray SQL session changes a cached balance (accounts are not append-only, their sums are checked).
    db.session.execute(
        text("UPDATE accounts SET balance_cents = balance_cents + 1 WHERE id = (SELECT min(id) FROM accounts)")
    )
    db.session.commit()
    bad = runner.invoke(args=["ledger", "verify"])
    assert bad.exit_code == 1
    assert "gespeicherter Saldo" in bad.output


def test_billing_run_command(app, demo):
    result = app.test_cli_runner().invoke(args=["billing", "run", "2026-10", "--as", "betrieb@kopit.example"])
    assert result.exit_code == 0, result.output
    assert "6 Buchungen erstellt" in result.output
    again = app.test_cli_runner().invoke(args=["billing", "run", "2026-10"])
    assert "0 Buchungen erstellt" in again.output
    future = app.test_cli_runner().invoke(args=["billing", "run", "2027-03"])
    assert future.exit_code != 0
    assert "Zukunft" in future.output
