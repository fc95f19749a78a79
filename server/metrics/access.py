"""Who may read ``/metrics`` (and the details of ``/readyz``): setting ``metrics_allow``.

The client address is ``client_ip`` (server/http/middlewares.py), which
believes a forwarding header only from a trusted proxy: a client that writes
``X-Forwarded-For: 127.0.0.1`` itself is still its own address. Everyone
else gets 404, as for any path that does not exist: the page tells nothing
to outsiders, not even that it is there.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.http.trusted_proxies import is_trusted, parse_address, parse_networks


def may_read_metrics(client: str, allowed: Sequence[str]) -> bool:
    """Whether ``client`` (an address as ``client_ip`` gives it) is inside ``allowed``."""
    address = parse_address(client)
    if address is None or not allowed:
        return False
    return is_trusted(address, parse_networks(tuple(allowed)))
