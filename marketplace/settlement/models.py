"""Settlement tables (invoices, settlements, payment instructions)."""
