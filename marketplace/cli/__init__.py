"""The command line (`flask --app wsgi ...`): one module per area, each a thin edge like a view.

A command parses its arguments, calls one operation and commits once at its end, like a request; a domain
error becomes a click error (exit 1) with its message. `init_app` registers every group on the app.
"""

from __future__ import annotations

from flask import Flask

from marketplace.cli import (
    api,
    billing,
    bookings,
    catalogue,
    demo,
    invoices,
    ledger,
    members,
    notifications,
    webhooks,
)


def init_app(app: Flask) -> None:
    for module in (demo, members, ledger, billing, bookings, catalogue, invoices, notifications, api, webhooks):
        for command in module.COMMANDS:
            app.cli.add_command(command)
