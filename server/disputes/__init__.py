"""The dispute register: registration, triage and the closed loop."""
