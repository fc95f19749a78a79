"""may_read_metrics: addresses and networks, both IP versions, nothing else."""

from __future__ import annotations

from server.metrics.access import may_read_metrics

DEFAULT = ["127.0.0.1", "::1"]


def test_loopback_only_by_default() -> None:
    assert may_read_metrics("127.0.0.1", DEFAULT)
    assert may_read_metrics("::1", DEFAULT)
    assert may_read_metrics("::ffff:127.0.0.1", DEFAULT)  # a dual-stack socket's view
    assert not may_read_metrics("127.0.0.2", DEFAULT)
    assert not may_read_metrics("10.0.0.1", DEFAULT)


def test_networks_and_what_is_not_an_address() -> None:
    allowed = ["10.0.5.0/24", "2001:db8::/32"]
    assert may_read_metrics("10.0.5.77", allowed)
    assert may_read_metrics("2001:db8::7", allowed)
    assert not may_read_metrics("10.0.6.1", allowed)
    assert not may_read_metrics("", allowed)
    assert not may_read_metrics("unix-socket", allowed)
    assert not may_read_metrics("127.0.0.1", [])
