"""Payment tables (customers, payment intents, webhook events)."""
