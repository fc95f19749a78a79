"""The `concord` command: serve, migrate, demo, create-user, verify."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from server import __version__
from server.logs.formatting import LOG_FORMATS
from server.logs.setup import configure_logging

#: As ``server.cluster.MAX_WORKERS`` and the ``workers`` setting's bound (kept light to import).
MAX_WORKERS = 64


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The settings, with the data directory made private before any command writes in it."""
    from pydantic import ValidationError

    from server.config import load_config
    from server.datadir import make_private

    try:
        config = load_config(args.config)
    except ValidationError as exc:
        # A setting an operator got wrong: what is wrong, not a traceback.
        print("concord: the settings are not valid:", file=sys.stderr)
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            print(f"  {where + ': ' if where else ''}{message}", file=sys.stderr)
        raise SystemExit(2) from None
    make_private(config)
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    """One process, or (``--workers N``) a front and N workers holding whole rooms.

    See server/front.py and docs/operations.md for the process model.
    """
    status = _serve(args)
    # Everything is closed by now. The interpreter's own exit would still walk the whole
    # heap (aiortc, WeasyPrint, fontTools, SQLAlchemy…) in its final garbage collections:
    # 2-3 s of CPU on a busy two-core machine, which an operator's stop waits for.
    gc.freeze()
    return status


def _serve(args: argparse.Namespace) -> int:
    from server.cluster import default_workers

    config = _config(args)
    if args.host:
        config.host = args.host
    if args.port:
        config.port = args.port
    if args.tls_cert:
        config.tls_cert_path = Path(args.tls_cert)
    if args.tls_key:
        config.tls_key_path = Path(args.tls_key)
    if args.log_format:
        config.log_format = args.log_format
    workers = args.workers or config.workers or default_workers()
    if args.worker_index is not None:
        from server.supervisor import run_worker

        if not args.run_dir or not 0 <= args.worker_index < workers:
            print("concord: a worker needs its index, the count and --run-dir", file=sys.stderr)
            return 2
        # Workers share the supervisor's output: each line says whose it is.
        configure_logging(config.log_format, verbose=args.verbose, worker=args.worker_index)
        return run_worker(config, args.worker_index, workers, Path(args.run_dir))
    configure_logging(config.log_format, verbose=args.verbose)
    from server.tls import TlsSetupError, context_for, lan_public_url

    try:
        ssl_context = context_for(config)
    except TlsSetupError as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 2
    config.public_url = lan_public_url(config) or config.public_url
    if workers > 1:
        from server.supervisor import serve_cluster

        return serve_cluster(config, workers, verbose=args.verbose, ssl_context=ssl_context)
    # The front of several workers never loads the app (aiortc, WeasyPrint): only a worker does.
    from aiohttp import web

    from server.app import SchemaOutOfDate, create_app
    from server.http.access_log import runner_options

    app = create_app(config)
    print(f"Concord {__version__} on {config.effective_public_url}", flush=True)
    try:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            ssl_context=ssl_context,
            print=None,
            **runner_options(),
        )
    except SchemaOutOfDate as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 2
    return 0


def _worker_count(value: str) -> int:
    count = int(value)
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_WORKERS}")
    return count


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.migrate import upgrade

    config = _config(args)
    secret = config.secret()  # make the data directory and its key before anything is stored
    upgrade(config.effective_database_url, args.revision)
    print(f"database is at {args.revision}: {_redact(config.effective_database_url)}")
    if args.revision == "head":
        count = asyncio.run(_encrypt_legacy(config.effective_database_url, secret))
        print(f"frozen texts encrypted: {count}")
    return 0


async def _encrypt_legacy(database_url: str, secret: bytes) -> int:
    """Rows the schema migrations cannot reach: they need the secret key (server/migrate.py)."""
    from server.db import make_engine
    from server.migrate import encrypt_legacy_texts
    from server.pii import PiiVault

    engine = make_engine(database_url)
    try:
        return await encrypt_legacy_texts(engine, PiiVault(secret))
    finally:
        await engine.dispose()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import seed_demo

    config = _config(args)
    result = asyncio.run(seed_demo(config))
    if result.created:
        print("demo data created")
    else:
        print("demo data already present; nothing changed")
    print(f"\nOpen {config.effective_public_url}/login and log in as one of:")
    for username, password, role in result.logins:
        print(f"  {username:<12} {password:<24} {role}")
    if result.session_starts_at is not None:
        when = result.session_starts_at.astimezone(ZoneInfo(config.timezone))
        print(f"\nDemo mediation session today at {when:%H:%M}; personal invitation links:")
        for role, name, link in result.links:
            print(f"  {role:<8} {name:<6} {link}")
    finished = result.finished
    if finished is not None:
        if finished.demo_pki is not None:
            print(
                f"\nCreated a self-signed demo station CA and sealing certificate in "
                f"{finished.demo_pki}: for demonstration only, it proves nothing elsewhere."
            )
        print(f"\nFinished demo case, sealed agreement {finished.case_number}:")
        print(f"  PDF:    {finished.pdf_path}")
        print(f"  verify: {finished.verify_url}  (or: concord verify FILE.pdf)")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from server.staff.bootstrap import create_user_cli

    config = _config(args)
    password = os.environ.get("CONCORD_NEW_PASSWORD") or getpass.getpass("Password: ")
    try:
        message = asyncio.run(
            create_user_cli(
                config,
                username=args.username,
                display_name=args.name,
                role=args.role,
                office=args.office,
                password=password,
                station_name=args.station,
            )
        )
    except ValueError as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a sealed agreement offline: its seal, and whether the archive holds these bytes."""
    from pathlib import Path

    from server.agreements.verify import verify_pdf

    config = _config(args)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"concord: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    roots = config.effective_trust_roots
    verdict = verify_pdf(data, roots)
    print(f"{path}: {'VALID' if verdict.valid else 'NOT VALID'}")
    print(f"  sha256:     {verdict.sha256}")
    if verdict.signer:
        print(f"  sealed by:  {verdict.signer}")
    if verdict.signed_at is not None:
        when = verdict.signed_at.astimezone(ZoneInfo(config.timezone))
        print(f"  sealed at:  {when:%Y-%m-%d %H:%M:%S %z}")
    print(
        f"  seal:       intact={_yes(verdict.intact)} trusted={_yes(verdict.trusted)} "
        f"whole-file={_yes(verdict.covers_whole_file)}"
    )
    if not roots:
        print("  note:       no trust roots configured (seal_trust_roots)")
    for problem in verdict.problems:
        print(f"  problem:    {problem}")
    matched = True
    if not args.no_archive:
        found = asyncio.run(_archived(config, verdict.sha256))
        if found is None:
            matched = False
            print("  archive:    these exact bytes are NOT in the archive")
        else:
            number, version, current = found
            state = "current" if current else "superseded by a correction"
            print(f"  archive:    matches {number} version {version} ({state})")
    return 0 if verdict.valid and matched else 1


def _yes(value: bool) -> str:
    return "yes" if value else "no"


async def _archived(config, digest: str) -> tuple[str, int, bool] | None:  # type: ignore[no-untyped-def]
    from server.agreements import archive
    from server.db import make_engine, make_session_factory

    engine = make_engine(config.effective_database_url)
    try:
        async with make_session_factory(engine)() as db:
            agreement = await archive.by_pdf_hash(db, digest)
            if agreement is None:
                return None
            return agreement.case_number, agreement.version, await archive.is_current(db, agreement)
    finally:
        await engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="concord",
        description="Concord: remote multi-party mediation for community police offices.",
    )
    parser.add_argument("--version", action="version", version=f"concord {__version__}")
    parser.add_argument("--config", help="a TOML settings file (also CONCORD_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", help="address to listen on (CONCORD_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (CONCORD_PORT)")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        help="server processes, each holding whole rooms (CONCORD_WORKERS; default: one per "
        "core; 1: a single process)",
    )
    serve.add_argument(
        "--tls-cert", help="serve HTTPS with this certificate, PEM (CONCORD_TLS_CERT_PATH)"
    )
    serve.add_argument("--tls-key", help="... and its private key, PEM (CONCORD_TLS_KEY_PATH)")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines for people (human, the default) or JSON lines (CONCORD_LOG_FORMAT)",
    )
    # Internal: how the supervisor starts each worker (server/front.py).
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--run-dir", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="bring the database schema up to date")
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.set_defaults(func=cmd_migrate)

    from server import lan_cert_command, turn_config_command

    lan_cert_command.add_parser(sub)
    turn_config_command.add_parser(sub)

    demo = sub.add_parser("demo", help="add demo data once (station, offices, staff, disputes)")
    demo.set_defaults(func=cmd_demo)

    cu = sub.add_parser(
        "create-user",
        help="create a staff account (password from CONCORD_NEW_PASSWORD or a prompt)",
    )
    cu.add_argument("username")
    cu.add_argument("--name", required=True, help="display name")
    cu.add_argument(
        "--role", required=True, choices=["admin", "chief", "officer", "auxiliary", "clerk"]
    )
    cu.add_argument("--office", help="beat office name (officers and auxiliaries)")
    cu.add_argument("--station", help="station name; created if the database has no station yet")
    cu.set_defaults(func=cmd_create_user)

    ver = sub.add_parser(
        "verify", help="check a sealed agreement PDF: its seal and the archive's hash"
    )
    ver.add_argument("file", help="the PDF to check")
    ver.add_argument(
        "--no-archive", action="store_true", help="check the seal only, not the database"
    )
    ver.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Human lines until the settings are read: `concord serve` then applies log_format.
    configure_logging(verbose=args.verbose)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
