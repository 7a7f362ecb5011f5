"""The § 2b UStG details a not-taxable (O) service needs to be published (tests share them).

Usable both as API JSON (`{**body, **O_TAX}`) and as ServiceInput keywords (`ServiceInput(..., **O_TAX)`):
the reasons are TaxReason members, which are strings.
"""

from __future__ import annotations

from typing import Any

from marketplace.catalogue.models import TaxReason

O_TAX: dict[str, Any] = {
    "tax_legal_basis": "§ 2b Abs. 3 Nr. 2 UStG",
    "tax_reasons": [TaxReason.PUBLIC_LAW_AGREEMENT, TaxReason.COST_REIMBURSEMENT],
}
