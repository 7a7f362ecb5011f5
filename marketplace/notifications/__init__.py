"""E-mail notifications through an outbox table, sent by `flask outbox send`."""
