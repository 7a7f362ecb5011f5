"""Run localstripe as the Stripe API version the client pins (2026-09-30.endive), in memory.

localstripe predates a few parameters that real Stripe requires or rejects for SEPA Direct Debit
PaymentIntents. This wrapper teaches it the pinned version's rules, so that the client is tested against
them: `payment_method_types` is refused (400 payment_method_types_no_longer_supported), a confirmed SEPA
debit needs `mandate_data`, and `allowed_payment_method_types` / `description` are accepted. Nothing is
written to disk (localstripe would otherwise pickle its store to /tmp).

Usage: python localstripe_shim.py --port N
"""

from __future__ import annotations

import sys

import localstripe.resources as resources
from localstripe.errors import UserError

resources.Store.dump_to_disk = lambda self: None

_original_init = resources.PaymentIntent.__init__
_original_create = resources.PaymentIntent._api_create.__func__


def _init(self, *args, allowed_payment_method_types=None, mandate_data=None, description=None, **kwargs):
    if kwargs.get("payment_method_types") is not None:
        raise UserError(
            400,
            "payment_method_types is no longer supported on this API version",
            {"code": "payment_method_types_no_longer_supported", "param": "payment_method_types"},
        )
    if allowed_payment_method_types is not None and allowed_payment_method_types != ["sepa_debit"]:
        raise UserError(400, "Unsupported allowed_payment_method_types", {"param": "allowed_payment_method_types"})
    _original_init(self, *args, **kwargs)
    self.description = description
    self.mandate_data = mandate_data


def _create(cls, confirm=None, **data):
    if str(confirm).lower() == "true" and data.get("payment_method"):
        method = resources.PaymentMethod._api_retrieve(data["payment_method"])
        acceptance = (data.get("mandate_data") or {}).get("customer_acceptance") or {}
        if method.type == "sepa_debit" and acceptance.get("type") not in ("offline", "online"):
            raise UserError(400, "A SEPA Direct Debit needs mandate_data", {"param": "mandate_data"})
    return _original_create(cls, confirm=confirm, **data)


resources.PaymentIntent.__init__ = _init
resources.PaymentIntent._api_create = classmethod(_create)

if __name__ == "__main__":
    from localstripe.server import start

    sys.argv = [sys.argv[0], *sys.argv[1:], "--from-scratch"]
    start()
