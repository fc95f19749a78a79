"""Settings, read once at start-up and passed to whatever needs them.

Sources, strongest first: keyword arguments (tests), ``CONCORD_*``
environment variables, an optional TOML file (``CONCORD_CONFIG`` or
``--config``), then the embedded defaults. The secret key is never a constant
in code: when none is configured, a random one is generated on first run and
kept in the data directory, so restarts keep sessions and encrypted personal
data readable.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from server.followups.rules import Settings as FollowUpSettings

SECRET_KEY_FILE = "secret_key"
#: Where `concord demo` keeps its self-signed station certificate, and the file names;
#: used when no sealing key is configured, so `make run` can seal out of the box.
DEMO_PKI_DIR = "pki"
DEMO_CA_CERT_FILE = "station-ca.pem"
DEMO_CERT_FILE = "station-cert.pem"
DEMO_KEY_FILE = "station-key.pem"
#: `concord lan-cert`'s directory in the data directory, and its files (server/lan_cert.py).
LAN_TLS_DIR = "lan-tls"
LAN_CA_CERT_FILE = "ca.crt"
LAN_CA_KEY_FILE = "ca.key"
LAN_CERT_FILE = "server.crt"
LAN_KEY_FILE = "server.key"
Language = Literal["zh", "en"]
#: Bounds of the media UDP port range: not the system's ports.
MEDIA_PORT_FLOOR = 1024
MEDIA_PORT_CEILING = 65535


class Config(BaseSettings):
    """Everything an operator may set. See docs/operations.md for each field."""

    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="forbid")

    data_dir: Path = Field(default=Path("var"), description="Where files and keys are kept.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file in the data directory.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Server processes (`concord serve --workers`); empty: one per core.",
    )
    public_url: str = Field(default="", description="Base URL people reach; empty: host:port.")
    secret_key: SecretStr | None = None
    default_language: Language = "zh"
    timezone: str = "Asia/Shanghai"
    cookie_secure: bool = Field(
        default=False, description="Set behind HTTPS so cookies are never sent in clear."
    )
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    session_idle_minutes: int = Field(default=120, ge=5)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    login_ip_max_failures: int = Field(default=30, ge=1)
    invitation_grace_hours: int = Field(
        default=12, ge=0, le=24 * 7, description="How long a link outlives its session's end."
    )
    door_max_failures: int = Field(
        default=20, ge=1, description="Wrong invitation links per address before a pause."
    )
    door_window_minutes: int = Field(default=10, ge=1)
    ice_servers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="STUN/TURN servers for browsers and the media server; none by default.",
    )
    ice_host_addresses: list[str] = Field(
        default_factory=list,
        description="Addresses the media server offers (its public IP); empty: all interfaces.",
    )
    room_grace_seconds: int = Field(default=120, ge=5, le=3600)
    room_open_minutes_before: int = Field(default=60, ge=0, le=24 * 60)
    media_latency_probe: bool = Field(
        default=False,
        description="Measure the delay each forwarded packet spends in the server (benchmarks).",
    )
    agreements_dir: Path | None = Field(
        default=None, description="Where sealed agreements are kept; empty: data_dir/agreements."
    )
    case_number_pattern: str = Field(
        default="（{year}）{station}{kind}字第{seq:04d}号",
        description="Case numbers: {year}, {station} (short name), {kind} (调/治调), {seq}.",
    )
    seal_key_path: Path | None = Field(
        default=None, description="The station's private key (PEM) that seals agreements."
    )
    seal_cert_path: Path | None = Field(default=None, description="Its certificate (PEM).")
    seal_chain_paths: list[Path] = Field(
        default_factory=list, description="Intermediate certificates to embed (PEM)."
    )
    seal_key_passphrase: SecretStr | None = None
    seal_trust_roots: list[Path] = Field(
        default_factory=list,
        description="CA certificates (PEM) a sealed agreement must chain to, for verification.",
    )
    tsa_url: str = Field(default="", description="RFC 3161 timestamp authority; empty: none.")
    agreement_link_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long signing links (then copy links) live after the session.",
    )
    followup_police_workdays: int = Field(
        default=3,
        ge=0,
        le=30,
        description="Police mediation: working days after the deadline to check performance.",
    )
    followup_people_workdays: int = Field(
        default=0,
        ge=0,
        le=30,
        description="People's mediation: working days after the deadline for the follow-up.",
    )
    followup_outcome_workdays: int = Field(
        default=5,
        ge=0,
        le=60,
        description="Working days after a referral, withdrawal or no agreement to follow up.",
    )

    review_high_risk_days: int = Field(
        default=3,
        ge=1,
        le=90,
        description="每周研判: a high-risk dispute with no outcome after this many days is listed.",
    )

    # -- video codec (server/rooms/codecs.py) --
    video_codec: Literal["vp8", "h264"] = Field(
        default="vp8",
        description=(
            "The video codec a room prefers when its first participant decodes both VP8 and "
            "H.264; later joiners must decode the room's codec."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("CONCORD_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def followup_settings(self) -> FollowUpSettings:
        """The follow-up offsets as the pure rules take them (server/followups/rules.py)."""
        return FollowUpSettings(
            police_workdays=self.followup_police_workdays,
            people_workdays=self.followup_people_workdays,
            outcome_workdays=self.followup_outcome_workdays,
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'concord.db').resolve()}"

    @property
    def effective_agreements_dir(self) -> Path:
        return (
            self.agreements_dir if self.agreements_dir is not None else self.data_dir / "agreements"
        )

    @property
    def demo_pki_dir(self) -> Path:
        return self.data_dir / DEMO_PKI_DIR

    def _demo_file(self, name: str) -> Path | None:
        path = self.demo_pki_dir / name
        return path if path.exists() else None

    @property
    def effective_seal_key_path(self) -> Path | None:
        """The configured sealing key, else the demo's (only when no certificate is configured)."""
        if self.seal_key_path is not None or self.seal_cert_path is not None:
            return self.seal_key_path
        return self._demo_file(DEMO_KEY_FILE)

    @property
    def effective_seal_cert_path(self) -> Path | None:
        if self.seal_key_path is not None or self.seal_cert_path is not None:
            return self.seal_cert_path
        return self._demo_file(DEMO_CERT_FILE)

    @property
    def effective_trust_roots(self) -> list[Path]:
        """What a sealed agreement must chain to: configured roots, else the demo root."""
        if self.seal_trust_roots:
            return list(self.seal_trust_roots)
        demo_root = self._demo_file(DEMO_CA_CERT_FILE)
        return [demo_root] if demo_root is not None else []

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def secret(self) -> bytes:
        """The configured secret, or the one kept in the data directory (made on first use)."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < 32:
                raise ValueError("CONCORD_SECRET_KEY must be at least 32 characters")
            return value.encode()
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Written whole to a temporary file and linked into place, so a crash
            # never leaves an empty key behind, and two starters cannot both win.
            temporary = self.data_dir / f".{SECRET_KEY_FILE}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        value = path.read_text().strip()
        if len(value) < 32:
            raise ValueError(f"{path} holds no usable secret key (under 32 characters)")
        return value.encode()

    # HTTPS and the address in front (issue 13)
    tls_cert_path: Path | None = Field(
        default=None,
        description="Serve HTTPS with this certificate (PEM, chain after the leaf); "
        "empty: the LAN certificate of `concord lan-cert`, if any, else plain HTTP.",
    )
    tls_key_path: Path | None = Field(
        default=None, description="The certificate's private key (PEM, unencrypted)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose forwarding header "
        "names the client; empty: trust nobody, the socket's peer is the client.",
    )
    trusted_proxy_header: Literal["x-forwarded-for", "forwarded"] = Field(
        default="x-forwarded-for",
        description="The one header the trusted proxies write: X-Forwarded-For or Forwarded.",
    )

    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses or networks (CIDR) that may read /metrics and the details "
        "of /readyz; everyone else gets 404. Default: this machine only.",
    )

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return [item.strip() for item in value]

    @property
    def lan_tls_dir(self) -> Path:
        """Where `concord lan-cert` keeps its CA and the server's certificate."""
        return self.data_dir / LAN_TLS_DIR

    @property
    def effective_tls_paths(self) -> tuple[Path, Path] | None:
        """The certificate and key `concord serve` uses, or None for plain HTTP.

        Configured paths win; else the LAN certificate, when both its files exist.
        One configured path without the other is an error (``check_tls``).
        """
        if self.tls_cert_path is not None and self.tls_key_path is not None:
            return self.tls_cert_path, self.tls_key_path
        if self.tls_cert_path is not None or self.tls_key_path is not None:
            return None
        cert = self.lan_tls_dir / LAN_CERT_FILE
        key = self.lan_tls_dir / LAN_KEY_FILE
        if cert.exists() and key.exists():
            return cert, key
        return None

    @property
    def tls_enabled(self) -> bool:
        return self.effective_tls_paths is not None

    @property
    def effective_cookie_secure(self) -> bool:
        """Secure cookies when asked, when serving HTTPS, or when people reach an https:// URL."""
        return self.cookie_secure or self.tls_enabled or self.public_url.startswith("https://")

    # TURN relay for people behind strict NATs and UDP-blocking firewalls (server/turn.py)
    turn_secret: SecretStr | None = Field(
        default=None,
        description="coturn's static-auth-secret (use-auth-secret): each participant gets "
        "credentials made with it; empty: no TURN. `concord turn-config` writes the coturn file.",
    )
    turn_urls: list[str] = Field(
        default_factory=list,
        description="The TURN server's URLs as browsers take them, e.g. "
        "turn:turn.example.cn:3478?transport=udp, turn:turn.example.cn:3478?transport=tcp, "
        "turns:turn.example.cn:443?transport=tcp.",
    )
    turn_credential_minutes: int = Field(
        default=240,
        ge=5,
        le=24 * 60,
        description="How long a participant's TURN credentials are valid from joining "
        "(a page that rejoins gets new ones).",
    )
    turn_realm: str = Field(
        default="",
        description="coturn's realm; empty: the host of public_url, else the host setting.",
    )

    @field_validator("turn_urls")
    @classmethod
    def _turn_urls(cls, value: list[str]) -> list[str]:
        from server.turn import parse_turn_url

        for item in value:
            parse_turn_url(item)  # a TurnUrlError (ValueError) names the bad URL
        return [item.strip() for item in value]

    @field_validator("turn_secret")
    @classmethod
    def _turn_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from server.turn import check_secret

        if value is None or not value.get_secret_value():
            return None
        check_secret(value.get_secret_value())
        return value

    @field_validator("turn_realm")
    @classmethod
    def _turn_realm(cls, value: str) -> str:
        from server.turn import check_realm

        return check_realm(value) if value else value

    @model_validator(mode="after")
    def _turn_pair(self) -> Config:
        if self.turn_urls and self.turn_secret is None:
            raise ValueError(
                "turn_urls are set but turn_secret is not: set CONCORD_TURN_SECRET to coturn's "
                "static-auth-secret (`concord turn-config` makes one)"
            )
        if self.turn_secret is not None and not self.turn_urls:
            raise ValueError(
                "turn_secret is set but turn_urls is empty: list the TURN server's URLs, e.g. "
                "'[\"turn:turn.example.cn:3478?transport=udp\"]'"
            )
        return self

    # Media through firewalls: the UDP ports of the media server's sockets
    media_port_min: int | None = Field(
        default=None,
        description="First UDP port of the media range (with media_port_max); "
        "empty: any port the system picks.",
    )
    media_port_max: int | None = Field(
        default=None,
        description="Last UDP port of the media range, included. Each participant uses "
        "two ports per ICE host address while in a room.",
    )

    @model_validator(mode="after")
    def _media_ports(self) -> Config:
        low, high = self.media_port_min, self.media_port_max
        if (low is None) != (high is None):
            raise ValueError(
                "media_port_min and media_port_max go together: set both or neither "
                f"(media_port_min={low}, media_port_max={high})"
            )
        if low is None or high is None:
            return self
        for name, port in (("media_port_min", low), ("media_port_max", high)):
            if not MEDIA_PORT_FLOOR <= port <= MEDIA_PORT_CEILING:
                raise ValueError(
                    f"{name}={port} is outside {MEDIA_PORT_FLOOR}..{MEDIA_PORT_CEILING} "
                    "(ports below 1024 are the system's)"
                )
        if low > high:
            raise ValueError(
                f"media_port_min={low} is above media_port_max={high}: the range is empty"
            )
        return self

    @property
    def turn_enabled(self) -> bool:
        return self.turn_secret is not None and bool(self.turn_urls)

    @property
    def effective_turn_realm(self) -> str:
        """coturn's realm: the setting, else the public URL's host, else ``host`` (or concord)."""
        from server.turn import default_realm

        return self.turn_realm or default_realm(self.public_url, self.host)

    @property
    def media_ports(self) -> tuple[int, int] | None:
        """The media UDP port range (first, last, both included), or None for any port."""
        if self.media_port_min is None or self.media_port_max is None:
            return None
        return self.media_port_min, self.media_port_max

    # -- logs (docs/operations.md, "Logs") ----------------------------------------------------
    log_format: Literal["human", "json"] = Field(
        default="human",
        description="Log lines for people (human) or one JSON object per line (json); "
        "`concord serve --log-format`.",
    )


def load_config(config_file: str | None = None, **overrides: Any) -> Config:
    """Build the settings, optionally naming a TOML file as ``--config`` does."""
    if config_file:
        os.environ["CONCORD_CONFIG"] = config_file
    return Config(**overrides)
