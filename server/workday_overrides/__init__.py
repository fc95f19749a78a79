"""A station's own working-day calendar: the days the holiday library does not know yet."""
