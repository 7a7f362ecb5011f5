"""Cost-sharing tables: plans, participants, allocation keys."""
