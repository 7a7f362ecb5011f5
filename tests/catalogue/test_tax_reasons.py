"""§ 2b UStG: a not-taxable (O) service is published only with its legal basis and reasons.

A draft may lack them (the provider is reminded); publishing through the form or the status action is refused
with a German message naming the missing field, and nothing changes.
"""

from __future__ import annotations

from sqlalchemy import func, select

from marketplace.catalogue.models import Service, ServiceStatus
from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from tests.catalogue.conftest import PROVIDER, SERVICE_FORM
from tests.conftest import csrf_token, post_form

TITLE = SERVICE_FORM["title"]


def _service() -> Service | None:
    db.session.expire_all()
    return db.session.scalar(select(Service).where(Service.title == TITLE))


def _count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_publishing_o_without_reasons_is_refused_naming_the_field(as_user):
    client = as_user(PROVIDER)
    services, events = _count(Service), _count(AuditEvent)
    response = post_form(client, "/services/new", "/services/new", {**SERVICE_FORM, "tax_reasons": []})
    assert response.status_code == 422
    assert "Begründung der Nicht-Steuerbarkeit: Bitte mindestens einen Grund ankreuzen" in response.text
    assert 'id="tax_reasons-error"' in response.text
    assert (_count(Service), _count(AuditEvent)) == (services, events)


def test_an_empty_legal_basis_takes_the_default_of_the_cooperation(as_user):
    client = as_user(PROVIDER)
    response = post_form(client, "/services/new", "/services/new", {**SERVICE_FORM, "tax_legal_basis": " "})
    assert response.status_code == 302
    assert _service().tax_legal_basis == "§ 2b Abs. 3 Nr. 2 UStG"


def test_a_draft_is_published_by_the_status_action_only_once_the_reasons_are_given(as_user):
    client = as_user(PROVIDER)
    draft = {**SERVICE_FORM, "tax_reasons": [], "status": "draft"}
    assert post_form(client, "/services/new", "/services/new", draft).status_code == 302
    service = _service()
    url = f"/services/{service.id}"
    events = _count(AuditEvent)
    response = post_form(client, url, f"{url}/status", {"status": "published"})
    assert response.status_code == 302
    page = client.get(url).text
    assert "lässt sich erst veröffentlichen, wenn die Begründung der Nicht-Steuerbarkeit angegeben ist" in page
    assert _service().status is ServiceStatus.DRAFT and _count(AuditEvent) == events
    # paused needs no reasons
    assert post_form(client, url, f"{url}/status", {"status": "paused"}).status_code == 302
    assert _service().status is ServiceStatus.PAUSED
    # with the reasons given in the form, the status action publishes
    edit = f"{url}/edit"
    reasons = {**SERVICE_FORM, "status": "paused", "tax_reasons": ["cost_reimbursement"]}
    assert post_form(client, edit, edit, reasons).status_code == 302
    assert post_form(client, url, f"{url}/status", {"status": "published"}).status_code == 302
    assert _service().status is ServiceStatus.PUBLISHED


def test_removing_the_reasons_from_a_published_o_service_is_refused(as_user):
    client = as_user(PROVIDER)
    assert post_form(client, "/services/new", "/services/new", SERVICE_FORM).status_code == 302
    service = _service()
    edit = f"/services/{service.id}/edit"
    page = client.get(edit)
    response = client.post(
        edit, data={**SERVICE_FORM, "tax_reasons": [], "title": TITLE, "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 422
    assert "Bitte mindestens einen Grund ankreuzen" in response.text
    assert _service().tax_reasons == "cost_reimbursement,public_law_agreement"
    # as a draft it may be saved without them, with the reminder
    draft = post_form(client, edit, edit, {**SERVICE_FORM, "tax_reasons": [], "status": "draft"})
    assert draft.status_code == 302
    assert "Bitte ergänzen Sie die Begründung" in client.get(draft.headers["Location"]).text
    assert _service().tax_reasons == "" and _service().status is ServiceStatus.DRAFT


def test_standard_and_exempt_services_publish_without_section_2b_reasons(as_user):
    client = as_user(PROVIDER)
    for vat, extra in (("S", {}), ("E", {"vatex_code": "VATEX-EU-132"})):
        data = {**SERVICE_FORM, "title": f"{TITLE} {vat}", "vat_category": vat, "tax_reasons": [], **extra}
        assert post_form(client, "/services/new", "/services/new", data).status_code == 302


def test_the_refusal_reads_english_on_english_pages(as_user):
    client = as_user(PROVIDER)
    client.get("/sprache/en")
    draft = {**SERVICE_FORM, "tax_reasons": [], "status": "draft"}
    assert post_form(client, "/services/new", "/services/new", draft).status_code == 302
    url = f"/services/{_service().id}"
    post_form(client, url, f"{url}/status", {"status": "published"})
    assert "can only be published once the reasons for not being taxable are given" in client.get(url).text
    refused = post_form(
        client, "/services/new", "/services/new", {**SERVICE_FORM, "title": "Zweite", "tax_reasons": []}
    )
    assert refused.status_code == 422 and "Please tick at least one reason" in refused.text
