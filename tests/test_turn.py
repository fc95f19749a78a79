"""server/turn.py: coturn REST credentials, TURN URLs, realms (the clock is pinned)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from server.turn import (
    TurnIssuer,
    TurnUrl,
    TurnUrlError,
    check_realm,
    check_secret,
    credential_for,
    default_realm,
    parse_turn_url,
    participant_ice_servers,
)

SECRET = b"s3cret-for-tests-only-0123456789abcdef"
NOW = 1_765_000_000.7
URLS = ("turn:turn.example.cn:3478?transport=udp", "turns:turn.example.cn:443?transport=tcp")


def issuer(lifetime: int = 3600, now: float = NOW) -> TurnIssuer:
    return TurnIssuer(secret=SECRET, urls=URLS, lifetime_seconds=lifetime, clock=lambda: now)


def test_the_username_is_the_expiry_then_an_opaque_tag_and_the_password_its_hmac() -> None:
    minted = issuer().mint("inv-12")
    expiry, tag = minted.username.split(":")
    assert int(expiry) == minted.expires_at == 1_765_000_000 + 3600
    assert "inv" not in tag and "12" != tag and len(tag) == 16
    # What coturn computes from static-auth-secret, written out independently.
    expected = base64.b64encode(
        hmac.new(SECRET, minted.username.encode(), hashlib.sha1).digest()
    ).decode()
    assert minted.credential == expected == credential_for(SECRET, minted.username)


def test_each_participant_has_its_own_tag_the_same_at_every_join() -> None:
    earlier, later = issuer(now=NOW), issuer(now=NOW + 600)
    a1, a2 = earlier.mint("inv-1"), later.mint("inv-1")
    b = earlier.mint("inv-2")
    assert a1.username.split(":")[1] == a2.username.split(":")[1]
    assert a1.username != a2.username and a1.credential != a2.credential
    assert a1.username.split(":")[1] != b.username.split(":")[1]
    other_station = TurnIssuer(SECRET[::-1], URLS, 3600, clock=lambda: NOW).mint("inv-1")
    assert other_station.username.split(":")[1] != a1.username.split(":")[1]


def test_the_ice_server_entry_lists_every_url_with_the_credentials() -> None:
    entry = issuer(lifetime=600).ice_server("staff-3")
    assert entry["urls"] == list(URLS)
    assert entry["username"].startswith(f"{int(NOW) + 600}:")
    assert entry["credential"] == credential_for(SECRET, entry["username"])


def test_a_participant_gets_the_static_servers_then_its_turn_entry() -> None:
    static = [{"urls": ["stun:stun.example.cn:3478"]}]
    servers = participant_ice_servers(static, issuer(), "inv-5")
    assert servers[0] == static[0] and servers[0] is not static[0]
    assert servers[1]["urls"] == list(URLS) and "username" in servers[1]
    assert participant_ice_servers(static, None, "inv-5") == static


def test_an_issuer_refuses_no_urls_a_bad_url_or_a_lifetime_under_a_minute() -> None:
    with pytest.raises(ValueError, match="at least one TURN URL"):
        TurnIssuer(SECRET, (), 3600)
    with pytest.raises(TurnUrlError, match="not a TURN URL"):
        TurnIssuer(SECRET, ("stun:x:3478",), 3600)
    with pytest.raises(ValueError, match="at least a minute"):
        TurnIssuer(SECRET, URLS, 30)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("turn:turn.example.cn", TurnUrl(False, "turn.example.cn", 3478, "udp")),
        ("turn:10.0.0.1:3478?transport=tcp", TurnUrl(False, "10.0.0.1", 3478, "tcp")),
        ("turns:turn.example.cn", TurnUrl(True, "turn.example.cn", 5349, "tcp")),
        ("turns:turn.example.cn:443?transport=tcp", TurnUrl(True, "turn.example.cn", 443, "tcp")),
        ("turn:[2001:db8::1]:3478", TurnUrl(False, "[2001:db8::1]", 3478, "udp")),
    ],
)
def test_turn_urls_parse_with_rfc_7065_defaults(text: str, parsed: TurnUrl) -> None:
    assert parse_turn_url(text) == parsed


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("stun:turn.example.cn:3478", "not a TURN URL"),
        ("turn:turn.example.cn:3478?transport=sctp", "not a TURN URL"),
        ("turn://turn.example.cn", "not a TURN URL"),
        ("turn:user@turn.example.cn", "not a TURN URL"),
        ("turns:turn.example.cn:443?transport=udp", "runs over TCP"),
        ("turn:turn.example.cn:70000", "between 1 and 65535"),
    ],
)
def test_bad_turn_urls_are_named(text: str, why: str) -> None:
    with pytest.raises(TurnUrlError, match=why):
        parse_turn_url(text)


def test_secrets_must_be_long_and_safe_to_write_into_turnserver_conf() -> None:
    assert check_secret("a" * 32) == "a" * 32
    with pytest.raises(ValueError, match="at least 32"):
        check_secret("short")
    for bad in ("a" * 32 + " b", "a" * 32 + "#", 'a"' * 20):
        with pytest.raises(ValueError, match="only letters"):
            check_secret(bad)


def test_realms_are_host_names_and_default_to_the_sites() -> None:
    assert check_realm("turn.example.cn") == "turn.example.cn"
    for bad in ("a b", "x;y", "-lead", ""):
        with pytest.raises(ValueError, match="host name"):
            check_realm(bad)
    assert default_realm("https://concord.example.cn/", "0.0.0.0") == "concord.example.cn"
    assert default_realm("", "station.lan") == "station.lan"
    assert default_realm("", "0.0.0.0") == "concord"
