"""The coturn configuration for a station (``turnserver.conf``), as text.

What is in it, and why:

- TURN on UDP and TCP 3478 (``listening-port``) and TURN over TLS on
  ``tls_port`` (443 by default: the one port every firewall that lets people
  browse lets out; see docs/operations.md for sharing 443 with HTTPS).
  DTLS is off: browsers do not use TURN over DTLS.
- ``use-auth-secret`` with the same ``static-auth-secret`` as Concord's
  ``turn_secret``: Concord mints each participant's credentials
  (server/turn.py), coturn keeps no user list.
- Relay ports in a fixed range, so the firewall rule can be written.
- No relaying into the station's own networks: every private, loopback,
  link-local and reserved range is a ``denied-peer-ip``, except the media
  server's own addresses (``allowed-peer-ip``, which coturn checks first).
  Without this a TURN account would be a tunnel into the LAN. Multicast
  peers are refused; relayed TCP (RFC 6062) is off, since WebRTC relays UDP.
- ``fingerprint``, no CLI, no software version, RFC 5780 probing and old
  STUN forms off, TLS 1.0 and 1.1 off: less for a scanner to learn.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from server.turn import check_realm, check_secret

#: IPv4 and IPv6 ranges a relay must not reach: RFC 6890 special-purpose
#: and private blocks (the media server's addresses are let through).
DENIED_PEER_NETWORKS: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)
DEFAULT_MIN_PORT = 49160
DEFAULT_MAX_PORT = 49999


class TurnConfigError(ValueError):
    """Settings that would make a coturn file coturn refuses or that is unsafe."""


@dataclass(frozen=True)
class TurnServerSettings:
    """Everything the file says; built from Concord's settings and the command's flags."""

    secret: str
    realm: str
    #: The media server's addresses: the one private destination relays may reach.
    media_addresses: tuple[str, ...] = ()
    listening_port: int = 3478
    tls_port: int | None = 443
    cert_path: Path | None = None
    key_path: Path | None = None
    min_port: int = DEFAULT_MIN_PORT
    max_port: int = DEFAULT_MAX_PORT
    #: Addresses coturn listens on and relays from; empty: all of the machine's.
    listening_ips: tuple[str, ...] = ()
    relay_ips: tuple[str, ...] = ()
    #: ``PUBLIC`` or ``PUBLIC/PRIVATE`` when coturn sits behind a 1:1 NAT.
    external_ip: str | None = None
    #: Where coturn writes its log; None: syslog.
    log_file: Path | None = None
    pid_file: Path | None = None
    #: Concurrent allocations per username (one participant has two connections).
    user_quota: int = 8
    total_quota: int = 400
    extra_lines: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_secret(self.secret)
        check_realm(self.realm)
        for address in (*self.media_addresses, *self.listening_ips, *self.relay_ips):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise TurnConfigError(f"{address!r} is not an IP address") from None
        if self.external_ip is not None:
            for part in self.external_ip.split("/", 1):
                try:
                    ipaddress.ip_address(part)
                except ValueError:
                    raise TurnConfigError(
                        f"external IP {self.external_ip!r} must be PUBLIC or PUBLIC/PRIVATE"
                    ) from None
        ports = [self.listening_port, self.min_port, self.max_port]
        if self.tls_port is not None:
            ports.append(self.tls_port)
        for port in ports:
            if not 1 <= port <= 65535:
                raise TurnConfigError(f"port {port} is not between 1 and 65535")
        if self.min_port > self.max_port:
            raise TurnConfigError(f"relay ports {self.min_port}-{self.max_port}: min above max")
        if self.tls_port is not None and self.tls_port == self.listening_port:
            raise TurnConfigError("the TLS port must differ from the plain TURN port")
        if self.tls_port is not None and (self.cert_path is None or self.key_path is None):
            raise TurnConfigError(
                "TURN over TLS needs a certificate and key (--tls-cert/--tls-key or "
                "CONCORD_TLS_CERT_PATH/CONCORD_TLS_KEY_PATH); or --no-tls"
            )
        if self.min_port <= self.listening_port <= self.max_port or (
            self.tls_port is not None and self.min_port <= self.tls_port <= self.max_port
        ):
            raise TurnConfigError("the relay port range must not hold the listening ports")


def _range(network: str) -> str:
    """coturn takes ``first-last`` ranges (it reads no CIDR in these options)."""
    net = ipaddress.ip_network(network)
    return f"{net.network_address}-{net.broadcast_address}"


def render(settings: TurnServerSettings, written_at: datetime) -> str:
    """The whole ``turnserver.conf``."""
    s = settings
    lines = [
        "# coturn configuration written by `concord turn-config` at "
        f"{written_at:%Y-%m-%d %H:%M %Z}.",
        "# It holds the TURN shared secret: keep it readable by root and the turnserver",
        "# group only (chmod 640). Concord's turn_secret must be the same string.",
        "",
        "# Listeners: TURN on UDP and TCP, TURN over TLS for networks that allow only 443.",
        f"listening-port={s.listening_port}",
    ]
    if s.tls_port is not None:
        lines += [
            f"tls-listening-port={s.tls_port}",
            f"cert={s.cert_path}",
            f"pkey={s.key_path}",
            "no-dtls",
            "no-tlsv1",
            "no-tlsv1_1",
        ]
    else:
        lines += ["no-tls", "no-dtls"]
    lines += [f"listening-ip={ip}" for ip in s.listening_ips]
    lines += [f"relay-ip={ip}" for ip in s.relay_ips]
    if s.external_ip is not None:
        lines.append(f"external-ip={s.external_ip}")
    lines += [
        "",
        "# Relay endpoints: open this UDP range in the firewall.",
        f"min-port={s.min_port}",
        f"max-port={s.max_port}",
        "",
        "# Credentials: Concord mints them per participant (coturn's REST API scheme).",
        "use-auth-secret",
        f"static-auth-secret={s.secret}",
        f"realm={s.realm}",
        f"user-quota={s.user_quota}",
        f"total-quota={s.total_quota}",
        "stale-nonce=600",
        "",
        "# Hardening.",
        "fingerprint",
        "no-cli",
        "no-software-attribute",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "response-origin-only-with-rfc5780",
        "no-multicast-peers",
        "no-tcp-relay",
        "",
        "# Relays reach the media server and the Internet, never the station's own networks.",
    ]
    lines += [f"allowed-peer-ip={ip}" for ip in s.media_addresses]
    lines += [f"denied-peer-ip={_range(network)}" for network in DENIED_PEER_NETWORKS]
    lines += ["", "# Logging."]
    if s.log_file is not None:
        lines += [f"log-file={s.log_file}", "simple-log"]
    else:
        lines.append("syslog")
    if s.pid_file is not None:
        lines.append(f"pidfile={s.pid_file}")
    lines += list(s.extra_lines)
    return "\n".join(lines) + "\n"


def media_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """The media server's addresses that are IP addresses (names cannot be peer rules)."""
    found: list[str] = []
    for address in addresses:
        try:
            found.append(str(ipaddress.ip_address(address.strip())))
        except ValueError:
            continue
    return tuple(found)
