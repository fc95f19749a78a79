"""A client behind a NAT router and a server behind its own firewall, made by the test.

::

    client 10.83.1.2 ──veth── 10.83.1.1 router 10.83.2.1 ──veth── 10.83.2.2 server
                               (masquerades the client)             (nftables: the test's)

As with a home or mobile network, the server never learns a route to the
client: it sees the router's address only, and only once the client sent it
something. So media reaches the client only if the server's firewall let the
client's first packet in. Needs root; every namespace is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

CLIENT_ADDRESS = "10.83.1.2"
ROUTER_CLIENT_SIDE = "10.83.1.1"
ROUTER_SERVER_SIDE = "10.83.2.1"
SERVER_ADDRESS = "10.83.2.2"

NAT_RULES = """
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "s-side" masquerade
  }
}
"""


def sh(*command: str, stdin: str | None = None) -> None:
    done = subprocess.run(command, input=stdin, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


@dataclass(frozen=True)
class BehindNat:
    client: str
    router: str
    server: str

    def exec_in(self, namespace: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command]

    def load_rules(self, namespace: str, ruleset: str) -> None:
        """Load an nftables ruleset into one of the test's namespaces."""
        sh(*self.exec_in(namespace, "nft", "-f", "-"), stdin=ruleset)


def _make(n: BehindNat) -> None:
    for name in (n.client, n.router, n.server):
        sh("ip", "netns", "add", name)
    sh(
        "ip",
        "-n",
        n.router,
        "link",
        "add",
        "c-side",
        "type",
        "veth",
        "peer",
        "eth0",
        "netns",
        n.client,
    )
    sh(
        "ip",
        "-n",
        n.router,
        "link",
        "add",
        "s-side",
        "type",
        "veth",
        "peer",
        "eth0",
        "netns",
        n.server,
    )
    for ns, dev, addr in (
        (n.client, "eth0", f"{CLIENT_ADDRESS}/24"),
        (n.router, "c-side", f"{ROUTER_CLIENT_SIDE}/24"),
        (n.router, "s-side", f"{ROUTER_SERVER_SIDE}/24"),
        (n.server, "eth0", f"{SERVER_ADDRESS}/24"),
    ):
        sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    for ns in (n.client, n.router, n.server):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # Only the client has a way out; the server knows its own subnet alone.
    sh("ip", "-n", n.client, "route", "add", "default", "via", ROUTER_CLIENT_SIDE)
    sh(*n.exec_in(n.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
    n.load_rules(n.router, NAT_RULES)


@contextlib.asynccontextmanager
async def behind_nat() -> AsyncIterator[BehindNat]:
    """The three namespaces, wired; all removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    made = BehindNat(client=f"nc-{tag}", router=f"nr-{tag}", server=f"ns-{tag}")
    try:
        _make(made)
        yield made
    finally:
        for name in (made.client, made.router, made.server):
            deleting = await asyncio.create_subprocess_exec(
                "ip", "netns", "del", name, stderr=asyncio.subprocess.DEVNULL
            )
            await deleting.wait()
