"""Booking mediation sessions and inviting people to them."""
