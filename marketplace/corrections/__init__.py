"""Correction cases: billed usage disputed by the buyer or corrected by the provider, and invoices the buyer
objected to. The operator's finance staff decide each case; a correction reverses the charge (with a credit
note at once when its invoice is out) and charges the corrected amount in the next open month, so a closed
month is never reopened and a corrected amount never gets stuck."""
