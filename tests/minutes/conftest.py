"""Fixtures of the minutes tests: the seeded env and a demo PKI for the seal."""

from tests.disputes.conftest import env as env
from tests.minutes.helpers import pki as pki

__all__ = ["env", "pki"]
