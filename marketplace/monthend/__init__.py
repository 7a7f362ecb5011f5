"""Month-end: billing runs and the month's close, above the areas they orchestrate.

A billing run advances the bookings by date (bookings), charges the month (ledger posting) together with
the cost-sharing advances (costsharing) and announces the finished run (the notifications e-mail every
member it charged, advances listed); large runs go to a job (`monthend.jobs`). Closing a month issues the
invoices and their VAT (settlement) and marks the month closed (ledger). The ledger itself knows nothing of
the areas above it.
"""
