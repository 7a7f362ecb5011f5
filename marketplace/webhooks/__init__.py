"""Outbound webhooks: members' systems hear of their bookings, usage, settlements and payments.

- `models`: endpoints (URL and secret per member) and the outbox of deliveries;
- `operations`: register and switch off endpoints, queue deliveries, ping, retry;
- `subscribers`: domain events (`marketplace.core.events`) -> delivery rows, in the transaction of the change;
- `delivery`: ``flask webhooks send`` signs (`marketplace.core.signing`) and posts what is due, with a
  timeout, retries with backoff and no internal addresses;
- `views`: the member admins' pages (the CLI command is in `marketplace.cli.webhooks`).

The area sits above every area whose events it hears; none of them imports it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages and subscribe the deliveries to the domain events."""
    # imported here, not at the top: importing `marketplace.webhooks.models` (migrations, other areas'
    # tests) then loads the tables alone, not the pages and their forms
    from marketplace.core import events
    from marketplace.webhooks import subscribers
    from marketplace.webhooks.views import bp

    app.register_blueprint(bp)
    events.connect(app, subscribers)
