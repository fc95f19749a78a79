"""The dispute tests' environment (a factory over the seeded database, the seed's actors)."""

from tests.disputes.conftest import env as env

__all__ = ["env"]
