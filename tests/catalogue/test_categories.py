"""The operator manages the service categories through the admin pages: create, rename, reorder, retire, delete.

Every write is in the audit trail; a category that services use is never deleted, only retired, and a retired
category is no longer offered in the service form but stays on the services that carry it.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from marketplace.catalogue.models import Category, Service
from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from tests.catalogue.conftest import BUYER, PROVIDER, SERVICE_FORM
from tests.conftest import csrf_token, post_form

OPERATOR = "betrieb@kopit.example"
LIST = "/admin/categories"


def _category(slug: str) -> Category | None:
    db.session.expire_all()
    return db.session.scalar(select(Category).where(Category.slug == slug))


def _order() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Category.slug).order_by(Category.position, Category.slug)))


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _create(client, name_de: str, name_en: str):
    return post_form(client, LIST, LIST, {"name_de": name_de, "name_en": name_en})


def _facet_label(page_text: str, slug: str) -> str | None:
    match = re.search(rf'<option value="{slug}"[^>]*>([^<]*)</option>', page_text)
    return match.group(1).strip() if match else None


def _category_options(page_text: str) -> dict[str, str]:
    select_html = re.search(r'<select[^>]*id="category".*?</select>', page_text, re.S).group(0)
    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', select_html)
    return {value: html.unescape(label).strip() for value, label in options}


def test_operator_creates_a_category_at_the_end_with_a_slug_from_the_german_name(as_user):
    operator = as_user(OPERATOR)
    page = operator.get(LIST)
    assert page.status_code == 200
    assert 'aria-current="page">Kategorien' in page.text
    response = _create(operator, "  Öffentliche   Netze & Telefonie ", "Public networks and telephony")
    assert response.status_code == 302
    category = _category("oeffentliche-netze-telefonie")
    assert (category.name_de, category.name_en) == ("Öffentliche Netze & Telefonie", "Public networks and telephony")
    assert _order()[-1] == category.slug and category.retired_at is None
    listed = operator.get(LIST).text
    assert "Die Kategorie „Öffentliche Netze &amp; Telefonie“ ist angelegt." in listed
    assert "<code>oeffentliche-netze-telefonie</code>" in listed
    (event,) = _audit("category.created")
    assert event.object_id == category.id and event.actor_id is not None
    assert event.data["before"] is None and event.data["after"]["name_en"] == "Public networks and telephony"
    # offered to providers at once
    options = _category_options(as_user(PROVIDER).get("/services/new").text)
    assert options["oeffentliche-netze-telefonie"] == "Öffentliche Netze & Telefonie"


def test_a_german_name_with_the_slug_of_another_gets_a_numbered_slug(as_user):
    operator = as_user(OPERATOR)
    assert _create(operator, "Hosting!", "Hosting (dedicated)").status_code == 302
    assert _category("hosting-2").name_de == "Hosting!"


@pytest.mark.parametrize(
    ("name_de", "name_en", "message"),
    [
        ("", "Networks", "Bitte einen deutschen Namen angeben."),
        ("Netze", "   ", "Bitte einen englischen Namen angeben."),
        ("N" * 101, "Networks", "Der Name hat höchstens 100 Zeichen."),
        ("hOSTING", "Hosting services", "Diesen deutschen Namen hat schon eine andere Kategorie."),
        ("Beratung und Coaching", "CONSULTING", "Diesen englischen Namen hat schon eine andere Kategorie."),
    ],
)
def test_bad_names_are_refused_with_a_german_message_and_nothing_changes(as_user, name_de, name_en, message):
    operator = as_user(OPERATOR)
    before = db.session.scalar(select(func.count(Category.id)))
    response = _create(operator, name_de, name_en)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert db.session.scalar(select(func.count(Category.id))) == before
    assert _audit("category.created") == []


def test_rename_keeps_the_slug_and_the_search_facets_show_the_new_name_at_once(as_user):
    buyer = as_user(BUYER)
    assert _facet_label(buyer.get("/services").text, "hosting") == "Hosting (2)"  # computed and cached
    operator = as_user(OPERATOR)
    hosting = _category("hosting")
    url = f"/admin/categories/{hosting.id}/edit"
    taken = post_form(operator, url, url, {"name_de": "Betrieb", "name_en": "Data centre"})
    assert taken.status_code == 422 and "Diesen deutschen Namen hat schon eine andere Kategorie." in taken.text
    same_name = post_form(operator, url, url, {"name_de": "HOSTING", "name_en": "Data centre"})
    assert same_name.status_code == 302  # its own name in other case is fine
    response = post_form(operator, url, url, {"name_de": "Rechenzentrum", "name_en": "Data centre"})
    assert response.status_code == 302
    renamed = _category("hosting")
    assert (renamed.name_de, renamed.name_en) == ("Rechenzentrum", "Data centre")
    assert _facet_label(buyer.get("/services").text, "hosting") == "Rechenzentrum (2)"
    assert _facet_label(buyer.get("/services?category=hosting").text, "hosting") == "Rechenzentrum (2)"
    last = _audit("category.renamed")[-1]
    assert last.data["before"]["name_de"] == "HOSTING" and last.data["after"]["name_de"] == "Rechenzentrum"
    assert last.data["after"]["slug"] == "hosting"


def test_operator_moves_categories_up_and_down(as_user):
    operator = as_user(OPERATOR)
    start = _order()
    support, first = _category(start[-1]), _category(start[0])
    assert post_form(operator, LIST, f"/admin/categories/{support.id}/up", {}).status_code == 302
    assert _order() == [*start[:-2], start[-1], start[-2]]
    assert post_form(operator, LIST, f"/admin/categories/{support.id}/down", {}).status_code == 302
    assert _order() == start
    # the first cannot move up: a message, nothing changes
    response = post_form(operator, LIST, f"/admin/categories/{first.id}/up", {})
    assert response.status_code == 302
    assert "Die Kategorie steht schon an erster Stelle." in operator.get(LIST).text
    assert _order() == start
    moves = _audit("category.moved")
    assert len(moves) == 2 and moves[0].data["before"]["order"] == start
    assert moves[0].data["after"]["order"][-1] == start[-2]
    # the order shows in the facets of the catalogue (support past software, training and consulting)
    for _step in range(3):
        assert post_form(operator, LIST, f"/admin/categories/{support.id}/up", {}).status_code == 302
    page = as_user(BUYER).get("/services").text
    assert page.index('value="support"') < page.index('value="consulting"')


def test_retired_category_is_not_offered_but_stays_on_its_services(as_user):
    operator, provider = as_user(OPERATOR), as_user(PROVIDER)
    hosting = _category("hosting")
    response = post_form(operator, LIST, f"/admin/categories/{hosting.id}/retire", {})
    assert response.status_code == 302
    assert _category("hosting").retired_at is not None
    listed = operator.get(LIST).text
    assert "wird für neue Leistungen nicht mehr angeboten" in listed and "Wieder anbieten" in listed
    (event,) = _audit("category.retired")
    assert event.data["before"]["retired"] is False and event.data["after"]["retired"] is True

    # not offered for a new service, and refused if posted anyway
    assert "hosting" not in _category_options(provider.get("/services/new").text)
    before = db.session.scalar(select(func.count(Service.id)))
    refused = post_form(provider, "/services/new", "/services/new", SERVICE_FORM)
    assert refused.status_code == 422
    assert db.session.scalar(select(func.count(Service.id))) == before

    # a service that has it keeps it, sees it (marked) in its form and can be saved with it
    server = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    edit = f"/services/{server.id}/edit"
    assert _category_options(provider.get(edit).text)["hosting"] == "Hosting (eingestellt)"
    saved = post_form(provider, edit, edit, {**SERVICE_FORM, "title": server.title, "category": "hosting"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Service, server.id).category.slug == "hosting"
    assert "Hosting" in as_user(BUYER).get(f"/services/{server.id}").text
    # moving it to another category is fine; back to the retired one is not
    moved = post_form(provider, edit, edit, {**SERVICE_FORM, "title": server.title, "category": "operations"})
    assert moved.status_code == 302
    assert "hosting" not in _category_options(provider.get(edit).text)
    back = post_form(provider, edit, edit, {**SERVICE_FORM, "title": server.title, "category": "hosting"})
    assert back.status_code == 422
    db.session.expire_all()
    assert db.session.get(Service, server.id).category.slug == "operations"

    # reactivated, it is offered again
    assert post_form(operator, LIST, f"/admin/categories/{hosting.id}/reactivate", {}).status_code == 302
    assert _category("hosting").retired_at is None
    assert _category_options(provider.get("/services/new").text)["hosting"] == "Hosting"
    assert len(_audit("category.reactivated")) == 1


def test_the_api_refuses_a_retired_category_for_a_new_service(as_user, api_as):
    operator = as_user(OPERATOR)
    training = _category("training")
    post_form(operator, LIST, f"/admin/categories/{training.id}/retire", {})
    response = api_as(PROVIDER).post(
        "/api/v1/services",
        json={"title": "Schulung", "category": "training", "unit": "hour", "unit_price": "80.00", "vat_category": "S"},
    )
    assert response.status_code == 422
    assert "category" in response.get_json()["errors"]


def test_a_used_category_cannot_be_deleted_and_nothing_changes(as_user):
    operator = as_user(OPERATOR)
    hosting = _category("hosting")
    assert f"/admin/categories/{hosting.id}/delete" not in operator.get(LIST).text  # no link offered
    page = operator.get(f"/admin/categories/{hosting.id}/delete")
    assert page.status_code == 200
    assert "„Hosting“ wird von 2 Leistungen verwendet und kann deshalb nicht gelöscht werden." in page.text
    response = operator.post(f"/admin/categories/{hosting.id}/delete", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert "wird von 2 Leistungen verwendet" in operator.get(LIST).text
    assert _category("hosting") is not None
    assert _audit("category.deleted") == []


def test_an_unused_category_is_deleted_after_confirmation(as_user):
    operator = as_user(OPERATOR)
    training_id = _category("training").id
    assert f"/admin/categories/{training_id}/delete" in operator.get(LIST).text
    page = operator.get(f"/admin/categories/{training_id}/delete")
    assert page.status_code == 200 and "Kategorie „Schulung“ löschen" in page.text
    assert _category("training") is not None  # opening the confirmation changes nothing
    response = operator.post(f"/admin/categories/{training_id}/delete", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert _category("training") is None
    assert "Die Kategorie „Schulung“ ist gelöscht." in operator.get(LIST).text
    (event,) = _audit("category.deleted")
    assert event.object_id == training_id and event.data["before"]["slug"] == "training" and event.data["after"] is None


def test_writes_without_a_csrf_token_change_nothing(as_user):
    operator = as_user(OPERATOR)
    training = _category("training")
    operator.post(LIST, data={"name_de": "Netze", "name_en": "Networks"})
    operator.post(f"/admin/categories/{training.id}/retire")
    operator.post(f"/admin/categories/{training.id}/delete")
    assert _category("netze") is None
    assert _category("training").retired_at is None


@pytest.mark.parametrize("email", [PROVIDER, BUYER, "pruefung@kopit.example", "it-leitung@wiesbaden.example"])
def test_only_the_operators_admins_manage_categories(as_user, create_user, email):
    from marketplace.members.models import Member, Role

    if email.startswith("it-leitung"):
        wiesbaden = db.session.scalar(select(Member).where(Member.name == "Stadt Wiesbaden"))
        create_user(wiesbaden, email, [Role.MEMBER_ADMIN])
    client = as_user(email)
    training = _category("training")
    assert client.get(LIST).status_code == 403
    assert client.get(f"/admin/categories/{training.id}/edit").status_code == 403
    assert client.get(f"/admin/categories/{training.id}/delete").status_code == 403
    token = csrf_token(client.get("/profile").text)
    assert client.post(LIST, data={"name_de": "Netze", "name_en": "Networks", "csrf_token": token}).status_code == 403
    assert client.post(f"/admin/categories/{training.id}/retire", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/admin/categories/{training.id}/delete", data={"csrf_token": token}).status_code == 403
    assert _category("training") is not None and _category("training").retired_at is None
    assert _category("netze") is None
    if email.startswith("it-leitung"):
        assert "/admin/categories" not in client.get(f"/admin/members/{wiesbaden.id}/users").text


def test_the_category_pages_speak_english(as_user):
    operator = as_user(OPERATOR)
    operator.get("/sprache/en")
    hosting = _category("hosting")
    page = operator.get(LIST).text
    for text in ("Categories in catalogue order", "Name in German", "Create category", "Move up", "Retire"):
        assert text in page, text
    assert "Kategorie anlegen" not in page and "Nach oben" not in page
    empty = post_form(operator, LIST, LIST, {"name_de": "Netze", "name_en": ""})
    assert "Please enter an English name." in empty.text
    taken = post_form(operator, LIST, LIST, {"name_de": "Hosting", "name_en": "Networks"})
    assert "Another category already has this German name." in taken.text  # the operation's message
    confirm = operator.get(f"/admin/categories/{hosting.id}/delete").text
    assert "“Hosting” is used by 2 services and therefore cannot be deleted" in confirm


def test_operations_check_the_actor_and_that_the_category_still_exists(app, demo):
    from marketplace.catalogue.categories import move_category, rename_category, retire_category
    from marketplace.core.errors import NotFound, PermissionDenied
    from marketplace.members.queries import user_by_email

    with pytest.raises(PermissionDenied):
        retire_category(user_by_email(PROVIDER), _category("training"))
    gone = Category(id=999_999, slug="weg", name_de="Weg", name_en="Gone", position=99)
    operator = user_by_email(OPERATOR)
    with pytest.raises(NotFound):
        rename_category(operator, gone, "Weg", "Gone")
    with pytest.raises(NotFound):
        move_category(operator, gone, -1)
    db.session.rollback()
