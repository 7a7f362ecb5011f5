"""Payment collection through a Stripe-compatible API: the client, payment intents, webhooks."""
