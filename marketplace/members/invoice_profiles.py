"""A member's invoice profile: the references its invoices must carry (with defaults for its bookings) and
the way it pays (clearing 97, the operator's SEPA debit 59, transfer 58).

Bookings read the profile when they are requested (defaults, required references); the invoicing reads the
payment way when it issues a document and stores it there, so a later change alters no issued document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from marketplace.core.errors import InvalidInput, PermissionDenied
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.core.validators import clean_creditor_id, clean_iban, clean_mandate_reference, text_problem
from marketplace.extensions import db
from marketplace.members.models import (
    MAX_REFERENCE,
    InvoiceProfile,
    InvoiceReference,
    Member,
    PaymentWay,
    User,
)


def invoice_profile_of(member_id: int) -> InvoiceProfile:
    """The member's profile; a member without one gets the defaults (an unsaved row: nothing required,
    clearing through the settlement)."""
    profile = db.session.get(InvoiceProfile, member_id)
    if profile is None:
        profile = InvoiceProfile(
            member_id=member_id,
            required="",
            order_reference="",
            contract_reference="",
            buyer_accounting_reference="",
            project_reference="",
            payment_way=PaymentWay.CLEARING,
        )
    return profile


def operator_member() -> Member | None:
    return db.session.scalar(select(Member).where(Member.is_operator.is_(True)))


@dataclass
class ProfileInput:
    """What a finance page or the API sends; ``None`` leaves the payment way (and the operator's creditor
    identifier) as they are."""

    required: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    payment_way: PaymentWay | None = None
    mandate_reference: str | None = None
    mandate_iban: str | None = None
    sepa_creditor_id: str | None = None


def reference_problem(value: str | None) -> str | None:
    """Why `value` cannot be an invoice reference (too long, control characters), or None."""
    if value and len(value) > MAX_REFERENCE:
        return InvalidInput.field("reference", "Eine Referenz hat höchstens 100 Zeichen.").detail
    problem = text_problem(value)
    return InvalidInput.field("reference", problem).detail if problem else None


def update_invoice_profile(actor: User, member: Member, data: ProfileInput) -> InvoiceProfile:
    """Save the member's invoice profile and payment way, audited.

    Raises PermissionDenied (neither the member's finance staff nor the operator's) or InvalidInput naming the
    field: an unknown or repeated reference, a default that is too long, a debit without mandate reference,
    account or the operator's creditor identifier.
    """
    if not actor.can_manage_invoice_profile(member.id):
        raise PermissionDenied("Das Rechnungsprofil pflegen die Finanzabteilung des Mitglieds und der Betreiber.")
    errors: dict[str, list[str]] = {}
    known = {reference.value for reference in InvoiceReference}
    unknown = [code for code in data.required if code not in known]
    if unknown or len(set(data.required)) != len(data.required):
        errors |= InvalidInput.field(
            "required", "Bitte nur die Referenzen Bestellnummer, Vertrag, Kostenstelle und Projekt je einmal."
        ).errors
    defaults = {name: (data.defaults.get(name) or "").strip() for name in known}
    for name in sorted(set(data.defaults) - known):
        errors |= InvalidInput.field(name, "Diese Referenz gibt es nicht.").errors
    for name, value in defaults.items():
        if problem := reference_problem(value):
            errors.setdefault(name, []).append(problem)
    if errors:
        raise InvalidInput("Das Rechnungsprofil ist unvollständig oder ungültig.", errors=errors)

    profile = db.session.scalar(locked(select(InvoiceProfile).where(InvoiceProfile.member_id == member.id)))
    if profile is None:
        profile = invoice_profile_of(member.id)
        db.session.add(profile)
    before = _snapshot(profile)
    way = data.payment_way or profile.payment_way
    mandate_reference, mandate_iban = profile.mandate_reference, profile.mandate_iban
    creditor_id = member.sepa_creditor_id
    checks: list[tuple[str, Any]] = []
    if data.payment_way is not None:
        checks += [
            ("mandate_reference", lambda: clean_mandate_reference(data.mandate_reference)),
            ("mandate_iban", lambda: clean_iban(data.mandate_iban, "mandate_iban")),
        ]
    if data.sepa_creditor_id is not None and member.is_operator:
        checks.append(("sepa_creditor_id", lambda: clean_creditor_id(data.sepa_creditor_id)))
    cleaned = _all_checked(checks)
    mandate_reference = cleaned.get("mandate_reference", mandate_reference)
    mandate_iban = cleaned.get("mandate_iban", mandate_iban)
    creditor_id = cleaned.get("sepa_creditor_id", creditor_id)
    if way is PaymentWay.DEBIT:
        _require_debit(member, mandate_reference, mandate_iban, creditor_id)
    profile.required = ",".join(code for code in sorted(known) if code in data.required)
    for name, value in defaults.items():
        setattr(profile, name, value)
    profile.payment_way = way
    profile.mandate_reference = mandate_reference
    profile.mandate_iban = mandate_iban
    profile.updated_at = utcnow()
    profile.updated_by_id = actor.id
    if member.is_operator:
        member.sepa_creditor_id = creditor_id
    db.session.flush()
    record_audit(
        actor,
        "invoice_profile.updated",
        member,
        member_id=member.id,
        data={"before": before, "after": _snapshot(profile) | {"sepa_creditor_id": member.sepa_creditor_id}},
    )
    return profile


def _all_checked(checks: list[tuple[str, Any]]) -> dict[str, Any]:
    """Run each field's check; one InvalidInput naming every field that failed."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, check in checks:
        try:
            cleaned[name] = check()
        except InvalidInput as error:
            for field_name, messages in error.errors.items():
                errors.setdefault(field_name, []).extend(messages)
    if errors:
        raise InvalidInput("Die Angaben zum Zahlungsweg sind ungültig.", errors=errors)
    return cleaned


def _require_debit(member: Member, mandate_reference: str | None, iban: str | None, creditor_id: str | None) -> None:
    errors: dict[str, list[str]] = {}
    if not mandate_reference:
        errors |= InvalidInput.field(
            "mandate_reference", "Für die Lastschrift bitte die Referenz des SEPA-Mandats angeben."
        ).errors
    if not iban:
        errors |= InvalidInput.field(
            "mandate_iban", "Für die Lastschrift bitte die IBAN des belasteten Kontos angeben."
        ).errors
    operator = member if member.is_operator else operator_member()
    if not (creditor_id if member.is_operator else operator is not None and operator.sepa_creditor_id):
        errors |= InvalidInput.field(
            "payment_way",
            "Der Betreiber hat noch keine Gläubiger-Identifikationsnummer hinterlegt; ohne sie ist keine "
            "Lastschrift möglich.",
        ).errors
    if errors:
        raise InvalidInput("Die Angaben zur Lastschrift sind unvollständig.", errors=errors)


def _snapshot(profile: InvoiceProfile) -> dict[str, object]:
    return {
        "required": profile.required,
        **{reference.value: profile.default(reference) for reference in InvoiceReference},
        "payment_way": profile.payment_way.value if profile.payment_way else None,
        "mandate_reference": profile.mandate_reference,
        "mandate_iban": profile.mandate_iban,
    }
