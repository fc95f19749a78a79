"""Mediation agreements: the draft, its signatures, the sealed PDF and the archive."""
