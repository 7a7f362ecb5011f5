"""Settlement: netting of member positions, invoices (XRechnung), SEPA files."""
