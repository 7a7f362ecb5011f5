"""Member endpoints of the API: the invoice profile (required references, defaults) and the payment way."""

from __future__ import annotations

from marketplace.api.auth import api_user
from marketplace.api.blueprint import api_bp
from marketplace.api.schemas import InvoiceProfileIn, InvoiceProfileOut
from marketplace.api.spec import operation
from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.members.invoice_profiles import ProfileInput, invoice_profile_of, update_invoice_profile
from marketplace.members.models import Member, User


def _member_for(user: User, member_id: int) -> Member:
    """The member whose profile `user` keeps; any other is 404 (its existence is not revealed)."""
    member = db.session.get(Member, member_id)
    if member is None or not user.can_manage_invoice_profile(member.id):
        raise NotFound("Dieses Mitglied gibt es nicht.")
    return member


@operation(
    api_bp,
    "GET",
    "/members/<int:member_id>/invoice-profile",
    responses={200: InvoiceProfileOut},
    summary="Rechnungsprofil und Zahlungsweg eines Mitglieds (eigene Finanzabteilung, Betreiber)",
    tags=["members"],
)
def get_invoice_profile(member_id: int) -> InvoiceProfileOut:
    member = _member_for(api_user(), member_id)
    return InvoiceProfileOut.of(invoice_profile_of(member.id), member)


@operation(
    api_bp,
    "PUT",
    "/members/<int:member_id>/invoice-profile",
    body=InvoiceProfileIn,
    responses={200: InvoiceProfileOut},
    summary="Rechnungsprofil und Zahlungsweg festlegen (eigene Finanzabteilung, Betreiber)",
    tags=["members"],
)
def put_invoice_profile(member_id: int, body: InvoiceProfileIn) -> InvoiceProfileOut:
    """Die Pflichtreferenzen gelten für neue Buchungen und Änderungen; die Vorgaben füllen leere Referenzen neuer
    Buchungen. Der Zahlungsweg gilt für jedes danach ausgestellte Dokument: `debit` (59) braucht
    Mandatsreferenz, IBAN und die Gläubiger-ID des Betreibers, sonst 422 mit dem Feldnamen."""
    user = api_user()
    member = _member_for(user, member_id)
    payment = body.payment
    profile = update_invoice_profile(
        user,
        member,
        ProfileInput(
            required=[reference.value for reference in body.required],
            defaults=body.defaults.model_dump(),
            payment_way=payment.way if payment is not None else None,
            mandate_reference=payment.mandate_reference if payment is not None else None,
            mandate_iban=payment.debited_iban if payment is not None else None,
            sepa_creditor_id=body.sepa_creditor_id,
        ),
    )
    return InvoiceProfileOut.of(profile, member)
