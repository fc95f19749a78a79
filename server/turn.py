"""Short-lived TURN credentials for each participant (coturn's ``use-auth-secret``).

coturn's REST shared-secret scheme (the "TURN REST API" draft) needs no
database and no call to the TURN server: the username is
``"<expiry unix time>:<tag>"`` and the password is
``base64(HMAC-SHA1(static-auth-secret, username))``. coturn recomputes the
HMAC with the same secret and refuses a username whose time has passed, so
whatever a page leaks stops working by itself.

Who gets TURN, and why the media server does not: a browser behind a
symmetric NAT, or in a network that lets only TCP 443 out, cannot reach the
media server's host candidates; it allocates a relay on coturn and the relay
talks UDP to the media server. The media server itself has an address every
relay can reach (its public address, ``ice_host_addresses``), so giving it
TURN too would only add a second relay hop (browser → coturn → coturn →
server) and double coturn's traffic. The media server therefore uses the
static ``ice_servers`` setting alone; an operator whose media server truly
sits behind a NAT it cannot traverse configures a TURN server there
explicitly.

The tag is not the participant id itself (``inv-12``, ``staff-3`` name
database rows): coturn writes usernames in its logs, so it gets a keyed hash
of the id, the same for one participant each time (one person's allocations
can be matched in coturn's log by whoever holds the secret) and meaningless
to anyone else.

Nothing here imports aiohttp or aiortc: ``server/config.py`` validates the
URLs with :func:`parse_turn_url` when the settings are read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

#: Characters a static-auth-secret may hold: it is written unquoted into
#: turnserver.conf, where spaces, ``#`` and quotes would change its meaning.
SECRET_CHARACTERS = re.compile(r"[A-Za-z0-9_\-.~+/=]+")
#: Shortest secret accepted (as ``secret_key``): HMAC keys guessable offline are no keys.
MIN_SECRET_LENGTH = 32
#: How long a tag is, in hex digits (64 bits: no two participants of a station collide).
TAG_DIGITS = 16

_TURN_URL = re.compile(
    r"(?P<scheme>turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)

Transport = Literal["udp", "tcp"]


class TurnUrlError(ValueError):
    """A TURN URL that browsers (RFC 7065) or coturn would not take."""


@dataclass(frozen=True)
class TurnUrl:
    """One parsed ``turn:``/``turns:`` URL (RFC 7065)."""

    secure: bool
    host: str
    port: int
    transport: Transport

    @property
    def scheme(self) -> str:
        return "turns" if self.secure else "turn"


def parse_turn_url(text: str) -> TurnUrl:
    """``turn:host[:port][?transport=udp|tcp]`` or ``turns:host[:port][?transport=tcp]``.

    The defaults are RFC 7065's: port 3478 (``turn:``) or 5349 (``turns:``), UDP
    for ``turn:`` and TCP for ``turns:`` (TLS over UDP, DTLS, is not offered by
    browsers for TURN).
    """
    match = _TURN_URL.fullmatch(text.strip())
    if match is None:
        raise TurnUrlError(
            f"{text!r} is not a TURN URL: expected turn:HOST[:PORT][?transport=udp|tcp] "
            "or turns:HOST[:PORT][?transport=tcp]"
        )
    secure = match["scheme"] == "turns"
    port = int(match["port"]) if match["port"] else (5349 if secure else 3478)
    if not 1 <= port <= 65535:
        raise TurnUrlError(f"{text!r}: port {port} is not between 1 and 65535")
    transport: Transport = "tcp" if secure else "udp"
    if match["transport"] == "udp" and secure:
        raise TurnUrlError(f"{text!r}: turns: (TLS) runs over TCP, not UDP")
    if match["transport"] is not None:
        transport = "udp" if match["transport"] == "udp" else "tcp"
    return TurnUrl(secure=secure, host=match["host"], port=port, transport=transport)


def check_secret(secret: str) -> str:
    """The secret if coturn's file can hold it and it is long enough; else a ValueError."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"turn_secret must be at least {MIN_SECRET_LENGTH} characters")
    if not SECRET_CHARACTERS.fullmatch(secret):
        raise ValueError(
            "turn_secret may hold only letters, digits and _ - . ~ + / = "
            "(it is written into turnserver.conf as it is)"
        )
    return secret


@dataclass(frozen=True)
class TurnCredentials:
    """What one participant's browser puts in its ``RTCIceServer`` for the TURN server."""

    username: str
    credential: str
    #: Unix time after which coturn refuses ``username``.
    expires_at: int


def credential_for(secret: bytes, username: str) -> str:
    """coturn's password for ``username``: base64 of HMAC-SHA1 keyed with the shared secret."""
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class TurnIssuer:
    """Mints credentials for the configured TURN URLs; one per server process.

    ``clock`` returns Unix time (tests pin it).
    """

    secret: bytes
    urls: tuple[str, ...]
    lifetime_seconds: int
    clock: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a TURN issuer needs at least one TURN URL")
        if self.lifetime_seconds < 60:
            raise ValueError("TURN credentials must live at least a minute")
        for url in self.urls:
            parse_turn_url(url)

    def tag(self, participant_id: str) -> str:
        """The participant's name in coturn's logs: a keyed hash of its id, not the id."""
        mac = hmac.new(self.secret, b"concord turn user\0" + participant_id.encode(), "sha256")
        return mac.hexdigest()[:TAG_DIGITS]

    def mint(self, participant_id: str) -> TurnCredentials:
        """Fresh credentials for ``participant_id``, valid ``lifetime_seconds`` from now."""
        expires_at = int(self.clock()) + self.lifetime_seconds
        username = f"{expires_at}:{self.tag(participant_id)}"
        return TurnCredentials(username, credential_for(self.secret, username), expires_at)

    def ice_server(self, participant_id: str) -> dict[str, Any]:
        """The browser's ``RTCIceServer`` for the TURN URLs, with fresh credentials."""
        minted = self.mint(participant_id)
        return {
            "urls": list(self.urls),
            "username": minted.username,
            "credential": minted.credential,
        }


def participant_ice_servers(
    static: Sequence[dict[str, Any]], issuer: TurnIssuer | None, participant_id: str
) -> list[dict[str, Any]]:
    """What one participant's page is given: the static servers, then its own TURN entry."""
    servers = [dict(server) for server in static]
    if issuer is not None:
        servers.append(issuer.ice_server(participant_id))
    return servers


_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62})(?:\.[A-Za-z0-9\-]{1,63})*")


def check_realm(realm: str) -> str:
    """A realm is written into turnserver.conf and hashed into keys: a plain host name."""
    if len(realm) > 253 or not _HOST_NAME.fullmatch(realm):
        raise ValueError(f"turn_realm {realm!r} must be a host name (letters, digits, . and -)")
    return realm


def default_realm(public_url: str, host: str) -> str:
    """The realm when none is set: the public URL's host name, else ``host``, else concord.

    With the REST secret the realm only labels the server (the key is the
    HMAC), but coturn needs one and browsers show none, so a stable name will do.
    """
    for candidate in (urlsplit(public_url).hostname if public_url else None, host):
        if candidate and candidate not in ("0.0.0.0", "::") and _HOST_NAME.fullmatch(candidate):
            return candidate
    return "concord"
