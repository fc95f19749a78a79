"""Three namespaces and a bad link between two of them, made and removed by a test.

::

    client 10.81.1.2 ──veth── 10.81.1.1 router 10.81.2.1 ──veth── 10.81.2.2 server
                                  └── tun0: tests/netlab/link.py ──┘

Everything the client sends or receives crosses the router's TUN device, where
the link emulator applies what the test sets (``LinkClient.set``). Needs root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.netlab.link import LinkClient, route_through

CLIENT_NET = "10.81.1.0/24"
CLIENT_ADDRESS = "10.81.1.2"
SERVER_ADDRESS = "10.81.2.2"
REPO = Path(__file__).resolve().parents[2]


def is_root() -> bool:
    return os.geteuid() == 0


def sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@dataclass
class Topology:
    client: str
    router: str
    server: str
    link: LinkClient

    def exec_in(self, namespace: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command]


def _make(names: dict[str, str]) -> None:
    for name in names.values():
        sh("ip", "netns", "add", name)
    c, r, s = names["client"], names["router"], names["server"]
    sh("ip", "-n", r, "link", "add", "c-side", "type", "veth", "peer", "eth0", "netns", c)
    sh("ip", "-n", r, "link", "add", "s-side", "type", "veth", "peer", "eth0", "netns", s)
    for ns, dev, addr in (
        (c, "eth0", f"{CLIENT_ADDRESS}/24"),
        (r, "c-side", "10.81.1.1/24"),
        (r, "s-side", "10.81.2.1/24"),
        (s, "eth0", f"{SERVER_ADDRESS}/24"),
    ):
        sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    for ns in names.values():
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", c, "route", "add", "default", "via", "10.81.1.1")
    sh("ip", "-n", s, "route", "add", "default", "via", "10.81.2.1")


@contextlib.asynccontextmanager
async def bad_link(tmp_path: Path, seed: int = 3) -> AsyncIterator[Topology]:
    """The three namespaces with the emulator running; all removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    names = {"client": f"cl-{tag}", "router": f"rt-{tag}", "server": f"sv-{tag}"}
    control = tmp_path / f"link-{tag}.sock"
    emulator: asyncio.subprocess.Process | None = None
    link = LinkClient(control)
    try:
        _make(names)
        emulator = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", names["router"], sys.executable, "-m", "tests.netlab.link",
            "--tun", "tun0", "--client", CLIENT_NET, "--control", str(control),
            "--seed", str(seed), cwd=REPO,
        )  # fmt: skip
        await link.connect()
        route_through(names["router"], tun="tun0", client_side="c-side", server_side="s-side")
        yield Topology(names["client"], names["router"], names["server"], link)
    finally:
        await link.close()
        if emulator is not None and emulator.returncode is None:
            emulator.terminate()
            await emulator.wait()
        for name in names.values():
            deleting = await asyncio.create_subprocess_exec(
                "ip", "netns", "del", name, stderr=asyncio.subprocess.DEVNULL
            )
            await deleting.wait()
