"""Requests and bookings of services: the state machine, capacity and usage records."""
