"""PDF documents on a service: type checked by content, size limited, downloadable by members."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from marketplace.catalogue.models import Service, ServiceDocument
from marketplace.extensions import db
from tests.catalogue.conftest import BUYER, PROVIDER
from tests.conftest import csrf_token

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _service() -> Service:
    return db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))


def _upload(
    client, service_id: int, content: bytes, filename: str = "leistung.pdf", title: str = "Leistungsbeschreibung"
):
    page = client.get(f"/services/{service_id}")
    return client.post(
        f"/services/{service_id}/documents",
        data={"title": title, "file": (io.BytesIO(content), filename), "csrf_token": csrf_token(page.text)},
        content_type="multipart/form-data",
    )


def test_provider_uploads_a_pdf_and_buyers_download_it(as_user):
    service = _service()
    response = _upload(as_user(PROVIDER), service.id, PDF, filename="../../etc/Leistung SLA.pdf")
    assert response.status_code == 302
    document = db.session.scalar(select(ServiceDocument))
    assert document.filename == "etc_Leistung_SLA.pdf" and document.size_bytes == len(PDF)
    buyer = as_user(BUYER)
    assert "Leistungsbeschreibung" in buyer.get(f"/services/{service.id}").text
    download = buyer.get(f"/services/{service.id}/documents/{document.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    assert buyer.get(f"/services/{service.id + 1}/documents/{document.id}").status_code == 404


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"MZ\x90\x00 not a pdf at all", "tarnung.pdf", "kein PDF"),  # wrong content despite the name
        (b"<html><script>alert(1)</script></html>", "x.pdf", "kein PDF"),
        (PDF[:-7], "abgeschnitten.pdf", "kein PDF"),  # no trailer
        (b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024) + b"\n%%EOF\n", "gross.pdf", "zu groß"),
        (b"", "leer.pdf", "PDF-Datei auswählen"),
    ],
)
def test_wrong_type_or_size_is_refused_with_a_message_and_nothing_stored(as_user, content, filename, message):
    response = _upload(as_user(PROVIDER), _service().id, content, filename)
    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(select(func.count(ServiceDocument.id))) == 0


def test_only_the_provider_uploads(as_user):
    response = _upload(as_user("anbieter@ekom21.example"), _service().id, PDF)
    assert response.status_code == 404
    assert db.session.scalar(select(func.count(ServiceDocument.id))) == 0
