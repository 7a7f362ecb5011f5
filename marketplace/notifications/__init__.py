"""E-mail notifications through an outbox table, sent by `flask outbox send`.

The e-mails caused by something that happened (`notices`) subscribe to the domain events; `init_app`
connects them. The areas that announce those events never import this package.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Subscribe the e-mail notices to the domain events of `app`."""
    # imported here, not at the top: importing `marketplace.notifications.models` (migrations, other areas)
    # then loads the tables alone, not every area whose events the notices hear
    from marketplace.core import events
    from marketplace.notifications import notices

    events.connect(app, notices)
