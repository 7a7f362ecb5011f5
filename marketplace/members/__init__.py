"""Members (public bodies), their users, roles and API tokens."""
