"""The data directory is readable by the server's own user alone.

It holds the database (whose rows name parties), the secret key, the sealed
PDFs, the station's signing key and the demo logins. The process umask is
set to 077 before anything is created, so every file made later (SQLite's
own -wal and -shm files included, which SQLite creates with the database
file's mode) is 0600 and every directory 0700, whoever creates it. Files
left by an earlier version with wider modes are narrowed at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from server.config import Config

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    if not database_url.startswith("sqlite"):
        return None
    _scheme, _sep, rest = database_url.partition(":///")
    path = rest.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def private_paths(config: Config) -> list[Path]:
    """Every tree and file the server keeps private: the data directory and what lives elsewhere."""
    paths = [config.data_dir, config.effective_agreements_dir]
    database = sqlite_path(config.effective_database_url)
    if database is not None:
        paths.append(database)
        paths.extend(database.with_name(database.name + side) for side in SQLITE_SIDE_FILES)
    return paths


def _narrow(path: Path, mode: int) -> None:
    try:
        current = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(current.st_mode) or stat.S_IMODE(current.st_mode) & ~mode == 0:
        return
    try:
        os.chmod(path, stat.S_IMODE(current.st_mode) & mode)
    except OSError as exc:  # another user's file: say so, the server still starts
        logger.warning("cannot make %s private: %s", path, exc.strerror)


def narrow_tree(paths: Iterable[Path]) -> None:
    """Remove group and other permissions from each path and, for directories, all inside."""
    for top in paths:
        if not top.is_dir() or top.is_symlink():
            _narrow(top, FILE_MODE | stat.S_IXUSR)
            continue
        _narrow(top, DIR_MODE)
        for root, dirs, files in os.walk(top):
            for name in dirs:
                _narrow(Path(root, name), DIR_MODE)
            for name in files:
                _narrow(Path(root, name), FILE_MODE | stat.S_IXUSR)


def make_private(config: Config) -> None:
    """Set the umask for this process and narrow what an earlier run left readable.

    Called once at the start of every command (server/cli.py), before the
    secret key, the database or any PDF is touched.
    """
    os.umask(PRIVATE_UMASK)
    config.data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    narrow_tree(private_paths(config))
    key = config.effective_seal_key_path
    if key is not None and key.exists() and stat.S_IMODE(key.stat().st_mode) & 0o077:
        logger.warning("the seal key %s is readable by other users: chmod 600 it", key)
