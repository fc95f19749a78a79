"""The far party's process (remote_party.py, turn_party.py) as the tests see it.

Each process prints its participant id once, then one JSON line a second with what it
decoded; the reader keeps them. Started and stopped in one place so that every test
passes the invitation token the same way (after ``--``: tokens may begin with ``-``)
and tolerates a process that has already ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FarParty:
    """A party in another namespace, as its process reports itself each second."""

    process: asyncio.subprocess.Process
    pid: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            if "pid" in line:
                self.pid = line["pid"]
            else:
                self.lines.append(line)

    def last(self) -> dict[str, Any]:
        return self.lines[-1] if self.lines else {}

    def count(self, key: str) -> int:
        return int(self.last().get("counts", {}).get(key, 0))

    def me(self) -> dict[str, Any]:
        return self.last().get("room_self") or {}

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            self.process.terminate()
        await self.process.wait()
        if self.reader is not None:
            self.reader.cancel()


async def start_far_party(
    namespace: str,
    module: str,
    url: str,
    token: str,
    address: str,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> FarParty:
    """``python -m module [options] -- url token address`` inside ``namespace``."""
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace, sys.executable, "-m", module,
        *options, "--", url, token, address,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, env=dict(env) if env is not None else None,
    )  # fmt: skip
    far = FarParty(process)
    far.reader = asyncio.create_task(far.read())
    return far
