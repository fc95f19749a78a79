"""司法确认: the 30-day window of a people's-mediation agreement, its packet and its outcome."""
