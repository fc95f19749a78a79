"""``concord turn-config``: write the station's coturn configuration and say what to do next.

The file is server/turn_config.py's; this module gathers its inputs from the
settings and the flags, writes it (0600 by the CLI's umask: it holds the
shared secret), and prints the operator's next steps. Its readers are the
people who install servers, so it speaks English like the rest of the
operator's commands.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from server.config import Config

#: Where the file goes by default, in the data directory (copied to /etc by the operator).
DEFAULT_FILE = "turnserver.conf"
#: Bytes of randomness in a generated secret (48 URL-safe characters).
SECRET_BYTES = 36


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``concord turn-config`` (called from server/cli.py)."""
    from server.turn_config import DEFAULT_MAX_PORT, DEFAULT_MIN_PORT

    turn = sub.add_parser(
        "turn-config",
        help="write a coturn configuration (turnserver.conf) for this station: TURN on "
        "UDP/TCP 3478 and TLS on 443, with Concord's turn_secret",
    )
    turn.add_argument(
        "--output",
        help=f"where to write it ('-': standard output; default: DATA_DIR/{DEFAULT_FILE})",
    )
    turn.add_argument(
        "--listening-port", type=int, default=3478, help="TURN on UDP and TCP (default: 3478)"
    )
    turn.add_argument(
        "--tls-port", type=int, default=443, help="TURN over TLS listens here (default: 443)"
    )
    turn.add_argument("--no-tls", action="store_true", help="no TURN over TLS (UDP/TCP only)")
    turn.add_argument(
        "--tls-cert",
        help="certificate for TURN over TLS, PEM (default: Concord's own TLS certificate)",
    )
    turn.add_argument("--tls-key", help="its private key, PEM (default: Concord's)")
    turn.add_argument("--min-port", type=int, default=DEFAULT_MIN_PORT, help="relay ports from")
    turn.add_argument("--max-port", type=int, default=DEFAULT_MAX_PORT, help="relay ports to")
    turn.add_argument(
        "--listening-ip",
        action="append",
        default=[],
        metavar="IP",
        help="an address coturn listens on (repeat; default: all), e.g. a second address "
        "so that coturn and HTTPS can both have port 443",
    )
    turn.add_argument(
        "--relay-ip", action="append", default=[], metavar="IP", help="relay from this address"
    )
    turn.add_argument(
        "--external-ip", help="PUBLIC or PUBLIC/PRIVATE when coturn is behind a 1:1 NAT"
    )
    turn.add_argument(
        "--media-address",
        action="append",
        default=[],
        metavar="IP",
        help="the media server's address relays may reach even when private (repeat; "
        "default: the ice_host_addresses setting)",
    )
    turn.add_argument("--log-file", help="coturn's log file (default: syslog)")
    turn.add_argument("--pid-file", help=argparse.SUPPRESS)
    turn.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.cli import _config
    from server.turn_config import TurnConfigError

    config: Config = _config(args)
    secret, generated = _secret(config)
    try:
        text = build(config, args, secret)
    except (TurnConfigError, ValueError) as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.write(text)
        target = None
    else:
        target = Path(args.output) if args.output else config.data_dir / DEFAULT_FILE
        try:
            write_private(target, text)
        except OSError as exc:
            print(f"concord: cannot write {target}: {exc.strerror}", file=sys.stderr)
            return 2
    out = sys.stderr if target is None else sys.stdout
    print(next_steps(config, args, target, secret if generated else None), file=out)
    return 0


def _secret(config: Config) -> tuple[str, bool]:
    """Concord's turn_secret, or a new one (which the operator must then set)."""
    if config.turn_secret is not None:
        return config.turn_secret.get_secret_value(), False
    return secrets.token_urlsafe(SECRET_BYTES), True


def build(config: Config, args: argparse.Namespace, secret: str) -> str:
    """The file's text from the settings and the flags."""
    from server.turn_config import TurnServerSettings, media_addresses, render

    cert: Path | None = None
    key: Path | None = None
    if not args.no_tls:
        if args.tls_cert or args.tls_key:
            cert = Path(args.tls_cert) if args.tls_cert else None
            key = Path(args.tls_key) if args.tls_key else None
        elif config.effective_tls_paths is not None:
            cert, key = (path.resolve() for path in config.effective_tls_paths)
    settings = TurnServerSettings(
        secret=secret,
        realm=config.effective_turn_realm,
        media_addresses=media_addresses(args.media_address or config.ice_host_addresses),
        listening_port=args.listening_port,
        tls_port=None if args.no_tls else args.tls_port,
        cert_path=cert,
        key_path=key,
        min_port=args.min_port,
        max_port=args.max_port,
        listening_ips=tuple(args.listening_ip),
        relay_ips=tuple(args.relay_ip),
        external_ip=args.external_ip,
        log_file=Path(args.log_file) if args.log_file else None,
        pid_file=Path(args.pid_file) if args.pid_file else None,
    )
    return render(settings, datetime.now(ZoneInfo(config.timezone)))


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, never readable by others even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def suggested_urls(config: Config, args: argparse.Namespace) -> list[str]:
    """The configured turn_urls, else the three a browser should try, named after the site."""
    if config.turn_urls:
        return list(config.turn_urls)
    host = config.effective_turn_realm
    port = args.listening_port
    urls = [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"]
    if not args.no_tls:
        urls.append(f"turns:{host}:{args.tls_port}?transport=tcp")
    return urls


def next_steps(
    config: Config, args: argparse.Namespace, target: Path | None, new_secret: str | None
) -> str:
    """What the operator does with the file, and the settings Concord needs to match it."""
    lines: list[str] = []
    if target is not None:
        lines.append(f"Wrote the coturn configuration to {target}.")
    lines += [
        "Install it for Debian's coturn and start the service:",
        f"  install -m 640 -o root -g turnserver {target or 'FILE'} /etc/turnserver.conf",
        "  systemctl enable coturn && systemctl restart coturn",
    ]
    if not args.no_tls and args.tls_port < 1024:
        lines += [
            f"Port {args.tls_port} needs CAP_NET_BIND_SERVICE: `systemctl edit coturn` and add",
            "  [Service]",
            "  AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "The turnserver user must be able to read the certificate and key.",
        ]
    urls = suggested_urls(config, args)
    if new_secret is not None:
        lines += [
            "",
            "No turn_secret was set: this file has a new one. Give Concord the same secret",
            "and the TURN URLs (environment, or the TOML file), then restart Concord:",
            f"  CONCORD_TURN_SECRET={new_secret}",
            f"  CONCORD_TURN_URLS='{_json_list(urls)}'",
        ]
    elif not config.turn_urls:
        lines += [
            "",
            "Set the TURN URLs browsers are given:",
            f"  CONCORD_TURN_URLS='{_json_list(urls)}'",
        ]
    lines += port_mismatches(config, args)
    port = args.listening_port
    open_tcp = f"{port}" if args.no_tls else f"{port} and {args.tls_port}"
    lines += [
        "",
        f"Firewall: open UDP {port}, TCP {open_tcp}, and UDP {args.min_port}-{args.max_port} "
        "(relay ports) to coturn.",
    ]
    if not (args.media_address or config.ice_host_addresses):
        lines.append(
            "Note: ice_host_addresses is empty, so no private address is let through: relays "
            "reach the media server only at a public address (or give --media-address)."
        )
    return "\n".join(lines)


def port_mismatches(config: Config, args: argparse.Namespace) -> list[str]:
    """Warnings for configured TURN URLs that name a port or TLS this file does not serve."""
    from server.turn import parse_turn_url

    warnings: list[str] = []
    for text in config.turn_urls:
        url = parse_turn_url(text)
        if url.secure and args.no_tls:
            warnings.append(f"Warning: turn_urls has {text}, but this file has no TLS (--no-tls).")
        elif url.secure and url.port != args.tls_port:
            warnings.append(f"Warning: turn_urls has {text}, but TLS listens on {args.tls_port}.")
        elif not url.secure and url.port != args.listening_port:
            warnings.append(
                f"Warning: turn_urls has {text}, but TURN listens on {args.listening_port}."
            )
    return [""] + warnings if warnings else []


def _json_list(items: list[str]) -> str:
    import json

    return json.dumps(items)
