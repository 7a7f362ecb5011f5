from tests.conftest import login


def test_login_and_catalogue(client, demo):
    login(client, "einkauf@wiesbaden.example")
    page = client.get("/services")
    assert page.status_code == 200
    assert "Virtueller Server (Standard)" in page.text
    assert "89,00\xa0€" in page.text
