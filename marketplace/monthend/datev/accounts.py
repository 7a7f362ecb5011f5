"""Which DATEV account each booking goes to: the default mapping for SKR 03 and SKR 04, overridable in the
``DATEV_ACCOUNTS`` setting and per member. docs/DATEV.md explains every account in a table.

Revenue and expense accounts are accounts *without* an automatic VAT function: the tax of a taxable (S)
document is named by its BU key (3 = 19 % output VAT, 9 = 19 % input VAT, 2 / 8 for 7 %), so DATEV books it
to the VAT account and reports the base in the VAT return; non-taxable (O, § 2b UStG) and exempt (E)
documents carry no key and land on accounts that compute no VAT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marketplace.catalogue.models import VatCategory
from marketplace.core.errors import Conflict

#: The account roles of a member's books and their default accounts per chart ("03" SKR 03, "04" SKR 04).
CHARTS: dict[str, dict[str, str]] = {
    "03": {
        "revenue_S": "8200",  # Erlöse (no VAT function; BU key 3 adds 19 % USt on 1776)
        "revenue_O": "8290",  # Erlöse nicht steuerbar § 2b UStG (individual account, no VAT function)
        "revenue_E": "8110",  # Sonstige steuerfreie Umsätze Inland
        "expense_S": "4900",  # Sonstige betriebliche Aufwendungen (BU key 9: 19 % Vorsteuer on 1576)
        "expense_O": "4900",
        "expense_E": "4900",
        "clearing": "1360",  # Geldtransit: the exchange's clearing (payment advices against payments)
        "bank": "1200",  # Bank
        "in_transit": "1361",  # operator: collected by SEPA debit, not yet on the bank (individual account)
        "passthrough": "1590",  # operator: Durchlaufende Posten (money collected for the creditors)
    },
    "04": {
        "revenue_S": "4200",  # Erlöse (BU key 3: 19 % USt on 3806)
        "revenue_O": "4290",  # Erlöse nicht steuerbar § 2b UStG (individual account)
        "revenue_E": "4110",  # Sonstige steuerfreie Umsätze Inland
        "expense_S": "6300",  # Sonstige betriebliche Aufwendungen (BU key 9: 19 % Vorsteuer on 1406)
        "expense_O": "6300",
        "expense_E": "6300",
        "clearing": "1460",  # Geldtransit
        "bank": "1800",  # Bank
        "in_transit": "1461",  # operator: collected, not yet on the bank (individual account)
        "passthrough": "1370",  # Durchlaufende Posten
    },
}

#: BU keys (Steuerschlüssel) per VAT rate: output VAT on the provider's revenue, input VAT on the buyer's
#: expense. The same in SKR 03 and SKR 04.
OUTPUT_VAT_KEYS = {Decimal("19.00"): "3", Decimal("7.00"): "2"}
INPUT_VAT_KEYS = {Decimal("19.00"): "9", Decimal("7.00"): "8"}

#: Settings of the export and their defaults; ``DATEV_ACCOUNTS`` overrides any of them, and its
#: ``members`` entry (member id as text -> the same keys) overrides them again for one member's books.
DEFAULTS: dict[str, Any] = {
    "consultant_number": 1001,  # Beraternummer
    "client_number": 1,  # Mandantennummer
    "fiscal_year_start_month": 1,
    "account_length": 4,  # Sachkontenlänge; personal accounts have one digit more
    "chart": "03",
    "accounts": {},  # role -> account, over the chart's defaults
    "debtor_base": 10000,  # debtor account of a counterparty = base + its member id
    "creditor_base": 70000,  # creditor account of a counterparty = base + its member id
    "counterparty_accounts": {},  # member id as text -> {"debtor": "...", "creditor": "..."}
}

_DIGITS = re.compile(r"[0-9]{1,9}\Z")


@dataclass(frozen=True)
class Books:
    """The resolved settings of one member's export."""

    consultant_number: int
    client_number: int
    fiscal_year_start_month: int
    account_length: int
    chart: str
    accounts: dict[str, str]
    debtor_base: int
    creditor_base: int
    counterparty_accounts: dict[str, dict[str, str]]

    def revenue(self, category: VatCategory) -> str:
        return self.accounts[f"revenue_{category.value}"]

    def expense(self, category: VatCategory) -> str:
        return self.accounts[f"expense_{category.value}"]

    def debtor(self, member_id: int) -> str:
        """The personal account of a buyer in its provider's books (Debitor, 10000-69999)."""
        own = self.counterparty_accounts.get(str(member_id), {}).get("debtor")
        return str(own or self.debtor_base + member_id)

    def creditor(self, member_id: int) -> str:
        """The personal account of a provider in its buyer's books (Kreditor, 70000-99999)."""
        own = self.counterparty_accounts.get(str(member_id), {}).get("creditor")
        return str(own or self.creditor_base + member_id)


def _merged(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key == "members":
            continue
        if key in ("accounts", "counterparty_accounts"):
            merged[key] = {**merged.get(key, {}), **(value or {})}
        else:
            merged[key] = value
    return merged


def vat_key(rate: Decimal, keys: Mapping[Decimal, str]) -> str:
    """The BU key of a taxable document's rate; Conflict for a rate no key exists for."""
    key = keys.get(Decimal(rate).quantize(Decimal("0.01")))
    if key is None:
        raise Conflict("Für den Steuersatz %(rate)s Prozent gibt es keinen DATEV-Steuerschlüssel.", rate=f"{rate:.2f}")
    return key


def mapping_for(member_id: int, config: Mapping[str, Any]) -> Books:
    """The settings of one member's books: defaults, the chart's accounts, ``DATEV_ACCOUNTS``, then its
    ``members`` entry for this member. Conflict when a setting is no account number or names no chart."""
    setting = config.get("DATEV_ACCOUNTS") or {}
    values = _merged(DEFAULTS, setting)
    values = _merged(values, (setting.get("members") or {}).get(str(member_id), {}))
    chart = str(values["chart"]).zfill(2)
    if chart not in CHARTS:
        raise Conflict("DATEV kennt hier nur die Kontenrahmen SKR 03 und SKR 04, nicht %(chart)s.", chart=chart)
    accounts = {**CHARTS[chart], **values["accounts"]}
    for role, account in accounts.items():
        if not _DIGITS.match(str(account)):
            raise Conflict(
                "Die DATEV-Einstellung %(role)s ist keine Kontonummer: %(account)s.", role=role, account=account
            )
    return Books(
        consultant_number=int(values["consultant_number"]),
        client_number=int(values["client_number"]),
        fiscal_year_start_month=int(values["fiscal_year_start_month"]),
        account_length=int(values["account_length"]),
        chart=chart,
        accounts={role: str(account) for role, account in accounts.items()},
        debtor_base=int(values["debtor_base"]),
        creditor_base=int(values["creditor_base"]),
        counterparty_accounts={str(k): dict(v) for k, v in values["counterparty_accounts"].items()},
    )
