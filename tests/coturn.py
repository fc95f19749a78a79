"""Debian's coturn (``turnserver``) started by a test with a given file, and stopped after.

``prefix`` runs it inside a network namespace (``ip netns exec NAME``). The
helper waits until coturn answers on its TCP listener, and fails the test
when coturn's log says it skipped a line of the file ("Bad configuration
format") or stopped on one ("CONFIG ERROR"): coturn starts anyway after
both, so a running process alone would not prove the file is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
#: What coturn writes when it ignores or refuses a line of the file.
COMPLAINTS = ("Bad configuration format", "CONFIG ERROR", "CONFIGURATION ALERT")


def installed() -> bool:
    return shutil.which("turnserver") is not None


@dataclass
class Coturn:
    process: asyncio.subprocess.Process
    log: Path

    def log_text(self) -> str:
        """Everything coturn logged (it adds a date to the name of a rolled log)."""
        texts = [
            path.read_text(errors="replace")
            for path in sorted(self.log.parent.glob(f"{self.log.stem}*"))
        ]
        return "\n".join(texts)

    def complaints(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if any(c in line for c in COMPLAINTS)]


async def _tcp_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def running(
    config_file: Path,
    log: Path,
    ready: tuple[str, int],
    prefix: Sequence[str] = (),
    probe: Callable[[str, int], Awaitable[bool]] = _tcp_open,
) -> AsyncIterator[Coturn]:
    """``turnserver -c config_file``, up (``ready`` answers TCP) until the block ends.

    ``config_file`` must name ``log`` as its ``log-file`` (with ``simple-log``).
    """
    process = await asyncio.create_subprocess_exec(
        *prefix, TURNSERVER, "-c", str(config_file),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    coturn = Coturn(process, log)
    try:
        async with asyncio.timeout(15):
            while not await probe(*ready):
                if process.returncode is not None:
                    raise AssertionError(
                        f"turnserver exited {process.returncode}: {coturn.log_text()}"
                    )
                await asyncio.sleep(0.1)
        yield coturn
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
