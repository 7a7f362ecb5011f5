"""The bookings' fixtures (a demo booking of Stadt Wiesbaden), shared with these tests."""

from tests.bookings.conftest import make_booking, user

__all__ = ["make_booking", "user"]
