"""A block of UDP ports free on loopback, for tests that configure a media port range."""

from __future__ import annotations

import random
import socket

#: Below Linux's ephemeral range (32768-60999 by default), so the sockets that
#: the test's clients (and everything else on the machine) bind to port 0
#: cannot land inside the block after it was found.
LOW, HIGH = 20000, 32000


def free_udp_block(size: int, host: str = "127.0.0.1", attempts: int = 200) -> tuple[int, int]:
    """First and last port of ``size`` consecutive UDP ports free on ``host`` right now."""
    rng = random.Random()
    for _ in range(attempts):
        first = rng.randrange(LOW, HIGH - size)
        held: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first, first + size - 1
    raise RuntimeError(f"no {size} consecutive free UDP ports on {host} in {LOW}-{HIGH}")


def udp_port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` right now (nothing holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
