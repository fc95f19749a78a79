"""One subscriber connection's downlink, judged from what its browser reports.

Every sender of the connection passes its receiver reports and REMB here
(``adapter.hook_feedback``); each becomes a :class:`~server.rooms.link_quality.Feedback`
with what the server sent the subscriber over the last seconds, for the pure
:class:`~server.rooms.link_quality.LinkJudge`. When its verdict changes, the media
server is told (and the room turns the subscriber's video off or on through the
routing rule); while in audio-only a timer brings the next probe even if no report
arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from server.rooms.aiortc_adapter import ReceiverFeedback
from server.rooms.link_quality import Feedback, LinkJudge, Policy, Verdict

logger = logging.getLogger(__name__)

#: The send rate is measured over about this window (seconds).
RATE_WINDOW = 2.0


class LinkWatch:
    def __init__(
        self,
        *,
        sent_octets: Callable[[], int],
        on_verdict: Callable[[Verdict, str], None],
        policy: Policy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sent_octets = sent_octets
        self._on_verdict = on_verdict
        self._clock = clock
        self.judge = LinkJudge(policy or Policy())
        self.judge.start(clock())
        self._sent: deque[tuple[float, int]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.samples = 0

    @property
    def verdict(self) -> Verdict:
        return self.judge.verdict

    def restart(self) -> None:
        """A new connection: its first seconds are not judged, its rate is measured afresh."""
        self._sent.clear()
        self.judge.start(self._clock())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def sent_bps(self, now: float) -> int | None:
        octets = self._sent_octets()
        self._sent.append((now, octets))
        while len(self._sent) > 2 and now - self._sent[1][0] >= RATE_WINDOW:
            self._sent.popleft()
        first_at, first = self._sent[0]
        if now - first_at < 0.5:
            return None
        # Payload bytes plus about 40 bytes of headers per ~1100-byte packet.
        return int((octets - first) * 8 * 1.04 / (now - first_at))

    def feedback(self, report: ReceiverFeedback) -> None:
        now = self._clock()
        self.samples += 1
        sample = Feedback(
            at=now,
            rtt=report.rtt,
            fraction_lost=report.fraction_lost,
            estimate_bps=report.estimate_bps,
            sent_bps=self.sent_bps(now),
        )
        self._changed(self.judge.observe(sample))

    def _tick(self) -> None:
        self._timer = None
        self._changed(self.judge.tick(self._clock()))

    def _changed(self, verdict: Verdict | None) -> None:
        if verdict is None:
            return
        if verdict is Verdict.AUDIO_ONLY and self.judge.probe_at is not None:
            self.close()
            delay = max(0.0, self.judge.probe_at - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay + 0.01, self._tick)
        else:
            self.close()
        try:
            self._on_verdict(verdict, self.judge.reason)
        except Exception:
            logger.exception("link verdict callback failed")
