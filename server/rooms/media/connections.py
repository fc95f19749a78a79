"""Peer-connection plumbing both sides share: ICE, candidates, state reports, tasks.

ICE: every connection uses ``RTCConfiguration(iceServers=config.ice_servers)``
(possibly empty: never aiortc's default public STUN server) and
``max-bundle``, gathers host candidates on ``config.host_addresses`` when
given (aioice skips 127.0.0.1 by itself), binds their sockets inside
``config.port_range`` when given, and raises its UDP sockets' ``SO_RCVBUF``.
A full port range makes gathering fail with ``NoFreePort``: the offer or
answer that gathers then raises :class:`MediaPortsExhausted`. The server's
candidates are all in its SDP (no trickle from the server). Trickled browser
candidates go to the one bundled ICE transport whatever m-section they name
(Chrome and Firefox put candidates only in the first m-section; aiortc reads
the last one's); those that arrive before the description they belong to are
kept until it is set; those whose ``ufrag`` names other ICE credentials (an
older or newer connection) are dropped.

Background work (keyframe requests, negotiations, state reports, closing
connections) runs as tasks owned here, so that :meth:`Connections.close`
can end all of it: connections being closed are awaited, the rest cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Final, Literal

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.counters import MediaCounters
from server.rooms.media.config import MediaConfig, ice_server
from server.rooms.media.errors import MediaError, MediaPortsExhausted
from server.rooms.media.slots import NO_STREAM

logger = logging.getLogger(__name__)

#: Which of a participant's two connections.
Target = Literal["publisher", "subscriber"]
#: Called with (participant id, target, connection state) when a current connection changes state.
StateCallback = Callable[[str, str, str], Awaitable[None]]

#: Participant ids go into ``a=msid`` lines: RFC 4566 token characters, at most 64.
PARTICIPANT_ID: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,64}")
#: Trickled candidates kept per connection until its description is set.
MAX_PENDING_CANDIDATES: Final = 64


class Connections:
    """Makes, watches and closes one media server's peer connections; owns its tasks."""

    def __init__(
        self,
        config: MediaConfig,
        *,
        on_state: StateCallback | None = None,
        counters: MediaCounters | None = None,
    ) -> None:
        self.config = config
        #: The process's media totals, shared by every media server (``server.rooms.counters``).
        self.counters = counters if counters is not None else MediaCounters()
        self._on_state = on_state
        self._ice_servers = [ice_server(s) for s in config.ice_servers]
        self.tasks: set[asyncio.Task[Any]] = set()
        self._closers: set[asyncio.Task[Any]] = set()  # awaited, not cancelled, on close()
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise MediaError("the media server is closed")

    def new(self) -> RTCPeerConnection:
        """A connection with the configured ICE servers (possibly none) and ``max-bundle``."""
        return RTCPeerConnection(
            RTCConfiguration(
                iceServers=list(self._ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
            )
        )

    def configure_ice(self, pc: RTCPeerConnection) -> None:
        """Gather on the configured addresses and ports, with large receive buffers.

        Call it before gathering (``set_local_description``).
        """
        adapter.configure_ice(
            pc,
            self.config.host_addresses,
            self.config.udp_receive_buffer,
            ports=self.config.port_range,
        )

    async def set_local_description(
        self, pc: RTCPeerConnection, description: RTCSessionDescription, who: str
    ) -> None:
        """``pc.setLocalDescription``, which gathers: a full port range is said as such.

        ``who`` names the connection in the log line (``publisher inv-1``).
        """
        try:
            await pc.setLocalDescription(description)
        except adapter.NoFreePort as exc:
            logger.error("media connection of %s refused: %s", who, exc.strerror)
            raise MediaPortsExhausted(str(exc.strerror)) from exc

    def watch(
        self,
        pc: RTCPeerConnection,
        pid: str,
        target: Target,
        current: Callable[[], RTCPeerConnection | None],
    ) -> None:
        """Report ``pc``'s state changes while it is ``pid``'s ``current()`` connection."""

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if current() is pc and self._on_state is not None:
                self.spawn(self._report_state(pid, target, pc.connectionState), f"state {pid}")

    async def _report_state(self, pid: str, target: Target, state: str) -> None:
        if self._on_state is not None:
            await self._on_state(pid, target, state)

    async def flush_candidates(
        self, pc: RTCPeerConnection, entries: Iterable[Mapping[str, Any]]
    ) -> None:
        """Add trickled candidates to the bundled transport, skipping other credentials'."""
        remote = pc.remoteDescription
        ufrag = sdp_ufrag(remote.sdp) if remote is not None else None
        for entry in entries:
            line = str(entry.get("candidate") or "")
            named = adapter.candidate_ufrag(line)
            if named is not None and ufrag is not None and named != ufrag:
                continue  # for other ICE credentials (an older or newer connection)
            try:
                await adapter.add_bundled_candidate(pc, adapter.parse_candidate(line))
            except ValueError as exc:
                logger.info("ICE candidate ignored: %s", exc)

    async def close_pc(self, pc: RTCPeerConnection) -> None:
        """Close one connection, giving up after ``close_timeout``."""
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await pc.close()
        except TimeoutError:
            logger.warning("closing a peer connection took over %.0f s", self.config.close_timeout)

    def close_later(self, pc: RTCPeerConnection, why: str) -> None:
        """Close ``pc`` in the background; :meth:`close` waits for it."""
        self._closers.add(self.spawn(self.close_pc(pc), f"close {why}"))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned here; a failure is logged, not lost."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self._closers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Cancel the background tasks and wait for the connections being closed."""
        self.closed = True
        tasks = [t for t in self.tasks if t not in self._closers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._closers, return_exceptions=True)


def check_pid(pid: str) -> None:
    """Refuse a participant id that cannot be a media stream id."""
    if not PARTICIPANT_ID.fullmatch(pid) or pid == NO_STREAM:
        raise ValueError(f"participant id {pid!r} cannot be a media stream id")


def parse_sdp(sdp: str) -> SessionDescription:
    try:
        return SessionDescription.parse(sdp)
    except Exception as exc:
        raise MediaError(f"malformed SDP: {exc}") from exc


def sdp_ufrag(sdp: str) -> str | None:
    """The first ``a=ice-ufrag`` of a description."""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:") :].strip()
    return None
