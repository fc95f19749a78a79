"""HTTPS on Concord's own port: the TLS context ``concord serve`` listens with.

Browsers give a page the camera only over HTTPS (or on ``localhost``), so a
trial on an office LAN, or a station without a reverse proxy, needs Concord
to speak TLS itself. Where the certificate comes from, strongest first:

1. ``concord serve --tls-cert FILE --tls-key FILE``;
2. the settings ``tls_cert_path`` and ``tls_key_path``;
3. the LAN certificate ``concord lan-cert`` made (``DATA_DIR/lan-tls/``);
4. none: plain HTTP (behind a reverse proxy that terminates TLS).

TLS ends where the public socket is: in the single process, or in the front
of ``--workers N`` (the workers behind it speak plain HTTP on private Unix
sockets and never see a certificate).
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from server.config import Config

#: Cipher suites for TLS 1.2 (1.3 has its own, all fine): forward secret AEADs only.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class TlsSetupError(ValueError):
    """The configured certificate cannot be served; the message says what to fix."""


def check_tls(config: Config) -> None:
    """Refuse half a configuration: a certificate without its key, or a key alone."""
    if (config.tls_cert_path is None) != (config.tls_key_path is None):
        raise TlsSetupError(
            "tls_cert_path and tls_key_path go together: set both (or neither, for the LAN "
            "certificate of `concord lan-cert` or plain HTTP)"
        )


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, the certificate chain and its key loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert_path, key_path)
    except FileNotFoundError as exc:
        raise TlsSetupError(f"cannot read {exc.filename}: no such file") from None
    except PermissionError as exc:
        raise TlsSetupError(f"cannot read {exc.filename}: permission denied") from None
    except ssl.SSLError as exc:
        raise TlsSetupError(
            f"{cert_path} and {key_path} are not a PEM certificate and its key ({exc.reason})"
        ) from None
    return context


def context_for(config: Config) -> ssl.SSLContext | None:
    """The context ``concord serve`` listens with, or None for plain HTTP."""
    check_tls(config)
    paths = config.effective_tls_paths
    if paths is None:
        return None
    return server_context(*paths)


def lan_public_url(config: Config) -> str | None:
    """``https://<LAN address>:<port>`` for a server on every interface with the LAN certificate.

    ``https://0.0.0.0:8443`` would be useless in links and QR codes; the LAN
    certificate names the address phones reach, so that one is the public URL
    when the operator set none.
    """
    if config.public_url or config.host not in WILDCARD_HOSTS:
        return None
    if config.tls_cert_path is not None or config.effective_tls_paths is None:
        return None
    from server.lan_cert import certificate_addresses

    cert_path, _key = config.effective_tls_paths
    for name in certificate_addresses(cert_path):
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            if name != "localhost":
                return f"https://{name}:{config.port}"  # a local name (concord.lan)
            continue
        if not ip.is_loopback:
            host = f"[{ip}]" if ip.version == 6 else str(ip)
            return f"https://{host}:{config.port}"
    return None
