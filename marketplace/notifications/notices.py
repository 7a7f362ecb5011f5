"""The e-mails the exchange sends because something happened: subscribers of the domain events.

Each function hears one kind of event (`marketplace.core.events`) and queues its e-mails in the outbox in
the transaction of the change. The texts use the event's data, i.e. the state of the moment it was
announced; names (members, people) are read from the database. `notifications.init_app` connects them.
"""

from __future__ import annotations

from sqlalchemy import select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Unit
from marketplace.core.events import (
    BillingRunCompleted,
    BookingAccepted,
    BookingCancelled,
    BookingChanged,
    BookingDeclined,
    BookingMessagePosted,
    BookingRequested,
    CorrectionOpened,
    CorrectionResolved,
    CostSharingAnswered,
    CostSharingInvited,
    CostSharingLeft,
    CostSharingParticipation,
    CostSharingTruedUp,
    InvoiceReleaseOverdue,
    PasswordResetRequested,
    SettlementCreated,
    ShareChange,
    UsageDisputed,
    UsageRecorded,
    UserInvited,
    subscribe,
)
from marketplace.core.money import charge_cents
from marketplace.costsharing.models import CONSENTING_ROLES
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User
from marketplace.members.operations import INVITATION_DAYS, RESET_HOURS
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.operations import (
    base_url,
    german_eur,
    german_number,
    member_staff,
    notify,
    notify_billed,
)
from marketplace.settlement.models import Settlement


def _link(booking_id: int) -> str:
    return f"{base_url()}/bookings/{booking_id}"


def _name(member_id: int) -> str:
    member = db.session.get(Member, member_id)
    return member.name if member is not None else ""


def _fmt(day: object) -> str:
    return f"{day:%d.%m.%Y}"


# --- bookings ------------------------------------------------------------------------------------------


@subscribe(BookingRequested)
def booking_requested(event: BookingRequested) -> None:
    notify(
        member_staff(event.provider_id, Role.PROVIDER),
        NotificationKind.BOOKING_REQUESTED,
        f"Neue Anfrage: {event.service_title}",
        f"{_name(event.buyer_id)} fragt „{event.service_title}“ an (Menge {event.quantity}, "
        f"ab {_fmt(event.starts_on)}). Bitte entscheiden Sie hier: {_link(event.booking_id)}",
    )


@subscribe(BookingAccepted, BookingDeclined)
def booking_decided(event: BookingChanged) -> None:
    verdict = "angenommen" if isinstance(event, BookingAccepted) else "abgelehnt"
    reason = event.reason if isinstance(event, BookingDeclined) else ""
    extra = f"\n\nBegründung: {reason}" if reason else ""
    notify(
        member_staff(event.buyer_id, Role.BUYER),
        NotificationKind.BOOKING_DECIDED,
        f"Anfrage {verdict}: {event.service_title}",
        f"{_name(event.provider_id)} hat Ihre Anfrage „{event.service_title}“ {verdict}.{extra}\n\n"
        f"Zur Buchung: {_link(event.booking_id)}",
    )


def _other_side(event: BookingChanged | BookingMessagePosted, member_id: int | None) -> list[User]:
    """The staff of the party that did not act: the provider's if the buyer acted, else the buyer's."""
    if member_id != event.buyer_id:
        return member_staff(event.buyer_id, Role.BUYER)
    return member_staff(event.provider_id, Role.PROVIDER)


@subscribe(BookingCancelled)
def booking_cancelled(event: BookingCancelled) -> None:
    extra = f"\n\nGrund: {event.reason}" if event.reason else ""
    ends = _fmt(event.ends_on) if event.ends_on is not None else ""
    notify(
        _other_side(event, event.actor_member_id),
        NotificationKind.BOOKING_CANCELLED,
        f"Buchung gekündigt: {event.service_title}",
        f"{_name(event.actor_member_id or 0)} hat die Buchung „{event.service_title}“ gekündigt. Sie endet am "
        f"{ends}.{extra}\n\nZur Buchung: {_link(event.booking_id)}",
    )


@subscribe(BookingMessagePosted)
def booking_message_posted(event: BookingMessagePosted) -> None:
    author = db.session.get(User, event.author_id)
    notify(
        [u for u in _other_side(event, event.author_member_id) if u.id != event.author_id],
        NotificationKind.BOOKING_MESSAGE,
        f"Neue Nachricht zu „{event.service_title}“",
        f"{author.name} ({_name(event.author_member_id)}) hat eine Nachricht zur Buchung geschrieben: "
        f"{_link(event.booking_id)}#verlauf",
    )


#: Units after a quantity in an e-mail.
UNIT_NAMES = {
    Unit.HOUR: "Stunden",
    Unit.PIECE: "Stück",
    Unit.GB_MONTH: "GB-Monate",
    Unit.USER_MONTH: "Nutzer-Monate",
}


@subscribe(UsageRecorded)
def usage_recorded(event: UsageRecorded) -> None:
    booking = db.session.get(Booking, event.booking_id)
    quantity = german_number(event.quantity)
    if booking is not None and booking.unit in UNIT_NAMES:
        quantity = f"{quantity} {UNIT_NAMES[booking.unit]}"
    amount = ""
    if booking is not None and booking.unit_price_cents is not None:
        amount = f" (netto {german_eur(charge_cents(booking.unit_price_cents, event.quantity))})"
    notify(
        member_staff(event.buyer_id, Role.BUYER),
        NotificationKind.USAGE_ENTERED,
        f"Verbrauch {event.period} zu „{event.service_title}“ gemeldet",
        f"{_name(event.provider_id)} hat für {event.period} eine Menge von {quantity}{amount} "
        f"gemeldet. Bitte bestätigen oder bestreiten Sie sie innerhalb von 14 Tagen: "
        f"{_link(event.booking_id)}#verbrauch",
    )


@subscribe(UsageDisputed)
def usage_disputed(event: UsageDisputed) -> None:
    notify(
        member_staff(event.provider_id, Role.PROVIDER),
        NotificationKind.USAGE_DISPUTED,
        f"Verbrauch {event.period} bestritten: {event.service_title}",
        f"{_name(event.buyer_id)} bestreitet den Verbrauch für {event.period}: „{event.reason}“. "
        f"Bis zur Korrektur wird er nicht abgerechnet: {_link(event.booking_id)}#verbrauch",
    )


# --- billing -------------------------------------------------------------------------------------------


@subscribe(BillingRunCompleted)
def billing_run_completed(event: BillingRunCompleted) -> None:
    """The finance staff of each member the run charged, with the cost-sharing advances listed (a rerun that
    charged nothing tells nobody)."""
    notify_billed(event.period, event.billed_buyer_ids, event.advances)


@subscribe(SettlementCreated)
def settlement_created(event: SettlementCreated) -> None:
    """The operator's other finance staff: a settlement waits for the second pair of eyes (four eyes)."""
    settlement = db.session.get(Settlement, event.settlement_id)
    creator_id = settlement.created_by_id if settlement is not None else None
    operator = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    if operator is None:
        return
    approvers = [u for u in member_staff(operator, Role.OPERATOR_FINANCE) if u.id != creator_id]
    volume = sum(p.amount_cents for p in event.positions if p.amount_cents > 0)
    creator = db.session.get(User, creator_id) if creator_id is not None else None
    notify(
        approvers,
        NotificationKind.BILLING,
        f"Verrechnung {event.period} wartet auf Ihre Freigabe",
        f"{creator.name if creator else 'Eine Kollegin oder ein Kollege'} hat die Verrechnung {event.period} "
        f"angelegt: {len(event.instructions)} Zahlungsanweisungen über zusammen {german_eur(volume)}. "
        f"Bitte prüfen und geben Sie sie frei (vier Augen):\n{base_url()}/settlements/{event.settlement_id}",
    )


# --- cost sharing --------------------------------------------------------------------------------------


@subscribe(CostSharingInvited)
def cost_sharing_invited(event: CostSharingInvited) -> None:
    """The invited member's staff who may answer: what they are asked to share, and their expected part."""
    notify(
        member_staff(event.member_id, *CONSENTING_ROLES),
        NotificationKind.BILLING,
        f"Einladung zur Kostenteilung: {event.service_title} {event.year}",
        f"{_name(event.provider_id)} lädt {_name(event.member_id)} ein, die Kosten von „{event.service_title}“ "
        f"{event.year} mitzutragen. Erwarteter Jahresanteil bei den geplanten Kosten: "
        f"{german_eur(event.expected_cents)} (netto). Bis zu Ihrer Zustimmung wird nichts berechnet.\n\n"
        f"Zustimmen oder ablehnen: {base_url()}/cost-sharing/{event.plan_id}",
    )


@subscribe(CostSharingAnswered)
def cost_sharing_answered(event: CostSharingAnswered) -> None:
    """The provider's staff hear the answer; the staff of each other participant whose annual share it
    changed hear their old and new share (the key is applied over those who accepted)."""
    verdict = "zugestimmt" if event.state == "accepted" else "abgelehnt"
    link = f"{base_url()}/cost-sharing/{event.plan_id}"
    notify(
        member_staff(event.provider_id, Role.PROVIDER),
        NotificationKind.BILLING,
        f"Kostenteilung {event.service_title} {event.year}: {_name(event.member_id)} hat {verdict}",
        f"{_name(event.member_id)} hat der Teilnahme an „{event.service_title}“ {event.year} {verdict}. "
        f"Die Anteile der Teilnehmer: {link}",
    )
    joined = "nimmt nun ebenfalls teil" if event.state == "accepted" else "nimmt nicht teil"
    _tell_share_changes(event, event.share_changes, f"{_name(event.member_id)} {joined}.")


def _tell_share_changes(event: CostSharingParticipation, changes: tuple[ShareChange, ...], why: str) -> None:
    """Each other participant whose annual share changed: why, and its old and new share."""
    link = f"{base_url()}/cost-sharing/{event.plan_id}"
    for change in changes:
        notify(
            member_staff(change.member_id, *CONSENTING_ROLES),
            NotificationKind.BILLING,
            f"Ihr Anteil an der Kostenteilung {event.service_title} {event.year} ändert sich",
            f"{why} Der Schlüssel wird auf alle Teilnehmer angewandt, die zugestimmt "
            f"haben; damit ändert sich der Jahresanteil von {_name(change.member_id)} bei den geplanten Kosten "
            f"von {german_eur(change.old_cents)} auf {german_eur(change.new_cents)} (netto). Die künftigen "
            f"Abschläge richten sich danach; bereits berechnete bleiben, die Spitzabrechnung gleicht aus.\n\n"
            f"Zur Kostenteilung: {link}",
        )


@subscribe(CostSharingLeft)
def cost_sharing_left(event: CostSharingLeft) -> None:
    """The participant's staff hear of its leaving date (or that it stays after all, or that its
    participation or invitation was removed); the other participants whose share changed hear old and new."""
    member, title = _name(event.member_id), f"„{event.service_title}“ {event.year}"
    link = f"{base_url()}/cost-sharing/{event.plan_id}"
    if event.removed:
        invited = event.state == "invited"
        what = "Einladung zurückgezogen" if invited else "Teilnahme entfernt"
        subject = f"Kostenteilung {event.service_title} {event.year}: {what}"
        if invited:
            done = f"die Einladung von {member} zu {title} zurückgezogen"
        else:
            done = f"die Teilnahme von {member} an {title} entfernt (sie war irrtümlich eingetragen)"
        body = (
            f"{_name(event.provider_id)} hat {done}. Für {member} wurde dafür nichts berechnet und wird nichts "
            f"berechnet."
        )
        why = f"{member} nimmt nicht mehr teil."
    elif event.leaves_on is not None:
        subject = f"Kostenteilung {event.service_title} {event.year}: Austritt zum {_fmt(event.leaves_on)}"
        body = (
            f"{_name(event.provider_id)} hat den Austritt von {member} aus {title} zum {_fmt(event.leaves_on)} "
            f"eingetragen. {member} trägt die Kosten bis zu diesem Tag; der Jahresanteil bei den geplanten Kosten "
            f"beträgt nun {german_eur(event.expected_cents)} (netto). Bereits berechnete Abschläge bleiben, die "
            f"Spitzabrechnung gleicht aus.\n\nZur Kostenteilung: {link}"
        )
        why = f"{member} tritt zum {_fmt(event.leaves_on)} aus."
    else:
        subject = f"Kostenteilung {event.service_title} {event.year}: Austritt aufgehoben"
        body = (
            f"{_name(event.provider_id)} hat den Austritt von {member} aus {title} aufgehoben: {member} nimmt bis "
            f"zum Jahresende teil. Jahresanteil bei den geplanten Kosten: {german_eur(event.expected_cents)} "
            f"(netto).\n\nZur Kostenteilung: {link}"
        )
        why = f"{member} nimmt nun doch bis zum Jahresende teil."
    if event.state != "declined":
        notify(member_staff(event.member_id, *CONSENTING_ROLES), NotificationKind.BILLING, subject, body)
    _tell_share_changes(event, event.share_changes, why)


@subscribe(CostSharingTruedUp)
def cost_sharing_trued_up(event: CostSharingTruedUp) -> None:
    """Each participant's finance staff and buyers (who may read its invoices): final amount, advances
    charged and the difference, with the final invoice or credit note."""
    plan_link = f"{base_url()}/cost-sharing/{event.plan_id}"
    for entry in event.entries:
        if entry.difference_cents > 0:
            outcome = f"Nachforderung (von Ihnen zu zahlen): {german_eur(entry.difference_cents)} netto"
        elif entry.difference_cents < 0:
            outcome = f"Erstattung (Ihnen gutgeschrieben): {german_eur(-entry.difference_cents)} netto"
        else:
            outcome = "Differenz: 0,00 € – die Abschläge decken den Endbetrag genau, es bleibt nichts zu zahlen"
        if entry.invoice_id is not None:
            what = "Gutschrift" if entry.difference_cents < 0 else "Schlussrechnung"
            document = (
                f"{what} {entry.invoice_number} über {german_eur(entry.invoice_amount_cents)} "
                f"(einschließlich USt.): {base_url()}/invoices/{entry.invoice_id}"
            )
        else:
            document = f"Es wird keine Schlussrechnung ausgestellt. Zur Kostenteilung: {plan_link}"
        notify(
            member_staff(entry.member_id, Role.MEMBER_FINANCE, Role.BUYER),
            NotificationKind.BILLING,
            f"Spitzabrechnung {event.service_title} {event.year}",
            f"{_name(event.provider_id)} hat die Kostenteilung „{event.service_title}“ {event.year} zu den "
            f"tatsächlichen Kosten von {german_eur(event.actual_cost_cents)} abgerechnet. "
            f"Für {_name(entry.member_id)}:\n\n"
            f"Endbetrag: {german_eur(entry.final_cents)} netto\n"
            f"Bereits berechnete Abschläge: {german_eur(entry.advances_cents)} netto\n"
            f"{outcome}\n\n{document}",
        )


# --- releases and corrections ---------------------------------------------------------------------------


def _eur(cents: int) -> str:
    return f"{cents / 100:,.2f} €".replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")


@subscribe(InvoiceReleaseOverdue)
def release_overdue(event: InvoiceReleaseOverdue) -> None:
    """The reminder run: the buyer's finance staff, once per overdue invoice and run."""
    due = _fmt(event.due) if event.due is not None else ""
    notify(
        member_staff(event.buyer_id, Role.MEMBER_FINANCE),
        NotificationKind.BILLING,
        f"Erinnerung: Rechnung {event.number} wartet auf Ihre Freigabe",
        f"Die Rechnung {event.number} von {_name(event.provider_id)} über {_eur(event.gross_cents)} "
        f"(Monat {event.period}) sollte bis {due} freigegeben werden (sachlich und rechnerisch richtig). "
        f"Bitte geben Sie sie frei oder beanstanden Sie sie: {base_url()}/invoices/{event.invoice_id}#release",
    )


def _operator_finance() -> list[User]:
    operator = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    return member_staff(operator, Role.OPERATOR_FINANCE) if operator is not None else []


@subscribe(CorrectionOpened)
def correction_opened(event: CorrectionOpened) -> None:
    """The operator's finance staff decide; the other party may state its view."""
    link = f"{base_url()}/corrections/{event.correction_id}"
    notify(
        _operator_finance(),
        NotificationKind.BILLING,
        f"Neuer Korrekturfall {event.correction_id} ({event.period})",
        f"Zwischen {_name(event.provider_id)} und {_name(event.buyer_id)} ist ein Korrekturfall zu {event.period} "
        f"offen: „{event.statement}“. Bitte entscheiden Sie: {link}",
    )
    actor = db.session.get(User, event.actor_id) if event.actor_id else None
    other = event.provider_id if actor is not None and actor.member_id == event.buyer_id else event.buyer_id
    notify(
        member_staff(other, Role.PROVIDER, Role.BUYER, Role.MEMBER_FINANCE),
        NotificationKind.BILLING,
        f"Korrekturfall {event.correction_id} zu {event.period}",
        f"Zu einer Abrechnung für {event.period} ist ein Korrekturfall offen: „{event.statement}“. "
        f"Sie können Stellung nehmen: {link}",
    )


@subscribe(CorrectionResolved)
def correction_resolved(event: CorrectionResolved) -> None:
    verdict = "berichtigt" if event.status == "corrected" else "zurückgewiesen"
    link = f"{base_url()}/corrections/{event.correction_id}"
    for member_id in (event.buyer_id, event.provider_id):
        notify(
            member_staff(member_id, Role.PROVIDER, Role.BUYER, Role.MEMBER_FINANCE),
            NotificationKind.BILLING,
            f"Korrekturfall {event.correction_id} {verdict}",
            f"Die Betreiberin hat den Korrekturfall {event.correction_id} ({event.period}) {verdict}: "
            f"„{event.note}“\n\n{link}",
        )


# --- accounts ------------------------------------------------------------------------------------------


@subscribe(UserInvited)
def user_invited(event: UserInvited) -> None:
    user = db.session.get(User, event.user_id)
    inviter = db.session.get(User, event.inviter_id)
    notify(
        [user],
        NotificationKind.ACCOUNT,
        "Einladung zur Leistungsbörse",
        f"{inviter.name} ({inviter.member.name}) lädt Sie zur Leistungsbörse ein, für {_name(event.member_id)}.\n\n"
        f"Bitte legen Sie innerhalb von {INVITATION_DAYS} Tagen Ihr Passwort fest:\n"
        f"{base_url()}/password/set/{event.token}",
    )


@subscribe(PasswordResetRequested)
def password_reset_requested(event: PasswordResetRequested) -> None:
    notify(
        [db.session.get(User, event.user_id)],
        NotificationKind.ACCOUNT,
        "Passwort zurücksetzen",
        f"Sie (oder jemand anderes) haben ein neues Passwort angefordert. Der Link gilt {RESET_HOURS} Stunden:\n"
        f"{base_url()}/password/set/{event.token}\n\nWenn Sie das nicht waren, ignorieren Sie diese E-Mail.",
    )
