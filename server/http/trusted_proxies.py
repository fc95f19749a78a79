"""Which client a request came from, when reverse proxies stand in front.

Behind nginx every connection comes from nginx; the client's own address is
in the header the proxy writes (``X-Forwarded-For`` or RFC 7239
``Forwarded``), and anybody can write those headers too. So the header is
believed only as far as trusted hands passed it: starting from the socket's
peer, each hop that is a trusted proxy (setting ``trusted_proxies``, addresses
or CIDR networks) vouches for the address to its left; the first address
that is not a trusted proxy is the client. A peer that is not trusted is the
client itself, whatever it wrote. With no trusted proxies nothing is read.

Only the one header the proxies are configured to write
(``trusted_proxy_header``) is read: nginx passes any other header from the
client through untouched, so reading both would let a client write its own.

aiohttp-remotes was considered and not used: its ``XForwardedStrict`` and
``ForwardedStrict`` answer 400 to any client that does not come through a
proxy (a LAN trial has both kinds) and want an exact hop count, its
``XForwardedFiltered`` believes the header from any peer, and all of them read
a TCP peer name, which the workers' Unix sockets do not have. The rule is
a dozen lines on ``ipaddress``, here.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def parse_networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    """The setting's addresses and networks (an address is its own /32 or /128)."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def parse_address(value: str) -> IPAddress | None:
    """An address as a header carries it: bare, ``[v6]:port``, ``v4:port``; None when not one."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None  # "unknown", "_hidden", garbage
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def is_trusted(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def header_chain(headers: Mapping[str, str], header: str) -> list[str]:
    """The addresses the forwarding header lists, leftmost (farthest from us) first."""
    getall = getattr(headers, "getall", None)
    values: list[str] = (
        list(getall(header, [])) if getall is not None else [headers.get(header, "")]
    )
    chain: list[str] = []
    for value in values:
        for element in value.split(","):
            if header.lower() == "forwarded":
                chain.append(_forwarded_for(element))
            elif element.strip():
                chain.append(element.strip())
    return chain


def _forwarded_for(element: str) -> str:
    """The ``for=`` of one RFC 7239 element (``for=192.0.2.1;proto=https``); "" when absent."""
    for pair in element.split(";"):
        key, _sep, value = pair.partition("=")
        if key.strip().lower() == "for":
            return value.strip()
    return ""


def client_from_chain(peer: str, chain: Sequence[str], networks: Sequence[Network]) -> str:
    """The client: walk from the socket's peer leftwards while the hops are trusted proxies.

    An entry that is not an address (a proxy that hides a hop, a forgery
    gone wrong) stops the walk at the last hop vouched for.
    """
    current = parse_address(peer)
    if current is None or not networks:
        return peer
    for entry in reversed(chain):
        if not is_trusted(current, networks):
            return str(current)
        hop = parse_address(entry)
        if hop is None:
            return str(current)
        current = hop
    return str(current)


def trusted_peer(peer: str, trusted: Sequence[str]) -> bool:
    """Whether the socket's peer ``peer`` is a trusted proxy."""
    if not trusted:
        return False
    address = parse_address(peer)
    return address is not None and is_trusted(address, parse_networks(tuple(trusted)))


def client_address(
    peer: str, headers: Mapping[str, str], trusted: Sequence[str], header: str
) -> str:
    """The client of a request whose socket peer is ``peer`` (see the module's docstring)."""
    if not trusted:
        return peer
    networks = parse_networks(tuple(trusted))
    address = parse_address(peer)
    if address is None or not is_trusted(address, networks):
        return peer
    return client_from_chain(peer, header_chain(headers, header), networks)
