"""The payment means an invoice or credit note names (XRechnung BG-16), fixed when it is issued.

Whoever pays the document (the buyer; for a credit note the provider) pays it the way its invoice profile
says (`members.invoice_profiles`):

- **clearing** (97, UNTDID 4461 "clearing between partners"): the exchange's monthly settlement nets the
  document with the member's others; the payment advice names the balance and its due date. Nobody transfers
  anything to the seller for this document.
- **debit** (59): the operator debits the payer's account under the SEPA mandate it holds (mandate reference
  BT-89, debited account BT-91, the operator's creditor identifier BT-90 as payee BG-10).
- **transfer** (58): a SEPA credit transfer to the receiver's account (BT-84), or to the operator's where the
  receiver has none.

A debit without a complete mandate or creditor identifier, and a transfer without any account to name,
would make an invalid XRechnung; such a document says clearing (97), which is how its money then moves.
"""

from __future__ import annotations

from marketplace.extensions import db
from marketplace.members.invoice_profiles import invoice_profile_of, operator_member
from marketplace.members.models import Member, PaymentWay
from marketplace.settlement.models import DocumentType, Invoice


def apply_payment_means(document: Invoice) -> None:
    """Store on `document` how it is paid, from its payer's invoice profile as it is now."""
    credit = document.type_code is DocumentType.CREDIT_NOTE
    payer_id = document.provider_id if credit else document.buyer_id
    receiver_id = document.buyer_id if credit else document.provider_id
    profile = invoice_profile_of(payer_id)
    operator = operator_member()
    document.payment_means_code = PaymentWay.CLEARING.code
    document.mandate_reference = document.payment_account = document.creditor_id = None
    document.payee_id = None
    if profile.payment_way is PaymentWay.DEBIT:
        if profile.mandate_reference and profile.mandate_iban and operator is not None and operator.sepa_creditor_id:
            document.payment_means_code = PaymentWay.DEBIT.code
            document.mandate_reference = profile.mandate_reference
            document.payment_account = profile.mandate_iban
            document.creditor_id = operator.sepa_creditor_id
            document.payee_id = operator.id
    elif profile.payment_way is PaymentWay.TRANSFER:
        receiver = db.session.get(Member, receiver_id)
        payee = receiver if receiver is not None and receiver.iban else operator
        if payee is not None and payee.iban:
            document.payment_means_code = PaymentWay.TRANSFER.code
            document.payment_account = payee.iban
            document.payee_id = payee.id
