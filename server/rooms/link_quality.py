"""Whether a subscriber's downlink can carry video: the rule behind automatic audio-only.

A party on a phone over a weak 4G link cannot take the three or four video streams
of a mediation room; sent anyway, the video fills the link's queue and the audio
(what matters in a mediation) arrives late or not at all. So the server watches
what each subscriber's browser reports about the packets it forwards to it and,
when the link is congested, stops that subscriber's video (routing rule 5 of
``server/rooms/routing.py``); nobody else is affected, and the publishers never
hear of it (the SFU does not pass a subscriber's estimate upstream), so a slow
subscriber cannot drag the others down.

Congestion, not mere loss, is what video makes worse: random loss (a noisy radio
link) is repaired by retransmission and FEC and gains nothing from dropping video,
while a queue that grows (the round trip rising well above the best seen) or a
receiver estimate far below what is being sent does. Loss counts only when it is
heavy enough that video cannot be decoded anyway.

Video comes back by probing: after a while in audio-only it is tried again, and a
probe that fails at once doubles the wait (up to a limit), as a link that is still
weak should not flap every few seconds.

Pure: the media server feeds it :class:`Feedback` samples and the clock; it returns
the verdict when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"


@dataclass(frozen=True, slots=True)
class Policy:
    #: The round trip this far above the best seen means a standing queue (seconds) ...
    queue_rtt: float = 0.25
    #: ... when the queue also overflows (some loss) or the estimate falls short of
    #: what is sent: a round trip that rises alone may be a busy server, not the link.
    queue_loss: float = 0.02
    queue_estimate_share: float = 0.85
    #: A receiver estimate below this share of what is sent means the link cannot take it.
    estimate_share: float = 0.6
    #: ... but only once at least this much is being sent (bits/s): an idle link's
    #: estimate is low and says nothing.
    min_sent_bps: int = 120_000
    #: Loss above this is beyond what retransmission and FEC repair.
    heavy_loss: float = 0.35
    #: Congestion must last this long before video stops (seconds).
    bad_for: float = 2.0
    #: Samples within this time of video (re)starting are ignored: the estimate ramps.
    settle: float = 2.0
    #: The first wait in audio-only before video is tried again, and the longest.
    first_probe: float = 8.0
    longest_probe: float = 64.0
    #: Video that held this long after a probe resets the wait to ``first_probe``.
    stable_for: float = 30.0


@dataclass(frozen=True, slots=True)
class Feedback:
    """One receiver report's worth of what the subscriber said, at ``at`` (monotonic s).

    Any field may be unknown (None): a report without REMB, or before an RTT exists.
    ``sent_bps`` is what the server sent this subscriber over the last interval.
    """

    at: float
    rtt: float | None = None
    fraction_lost: float | None = None
    estimate_bps: int | None = None
    sent_bps: int | None = None


@dataclass
class LinkJudge:
    policy: Policy = Policy()
    verdict: Verdict = Verdict.VIDEO
    best_rtt: float | None = None
    bad_since: float | None = None
    video_since: float = 0.0
    probe_at: float | None = None
    wait: float = 0.0
    #: Video is back on trial: a failure now lengthens the next wait.
    probing: bool = False
    #: The latest of each signal, as reports carry one or another.
    recent_loss: float = 0.0
    recent_estimate: int | None = None
    recent_sent: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        self.wait = self.policy.first_probe

    def start(self, now: float) -> None:
        """Video begins (the subscriber connected): its first seconds are not judged."""
        self.video_since = now

    def congested(self, sample: Feedback) -> str:
        """Why this sample says the link is congested ("" when it does not)."""
        p = self.policy
        if sample.fraction_lost is not None:
            self.recent_loss = sample.fraction_lost
        if sample.estimate_bps is not None:
            self.recent_estimate = sample.estimate_bps
        if sample.sent_bps is not None:
            self.recent_sent = sample.sent_bps
        if sample.rtt is not None:
            if self.best_rtt is None or sample.rtt < self.best_rtt:
                self.best_rtt = sample.rtt
            overflowing = self.recent_loss >= p.queue_loss or (
                self.recent_estimate is not None
                and self.recent_sent is not None
                and self.recent_estimate < p.queue_estimate_share * self.recent_sent
            )
            if sample.rtt - self.best_rtt > p.queue_rtt and overflowing:
                return "queue"
        if (
            sample.estimate_bps is not None
            and sample.sent_bps is not None
            and sample.sent_bps >= p.min_sent_bps
            and sample.estimate_bps < p.estimate_share * sample.sent_bps
        ):
            return "estimate"
        if sample.fraction_lost is not None and sample.fraction_lost > p.heavy_loss:
            return "loss"
        return ""

    def observe(self, sample: Feedback) -> Verdict | None:
        """Take one sample; the new verdict when it changes, else None."""
        why = self.congested(sample)
        if self.verdict is Verdict.AUDIO_ONLY:
            return self.tick(sample.at)
        if sample.at - self.video_since < self.policy.settle:
            return None
        if not why:
            self.bad_since = None
            if self.probing and sample.at - self.video_since >= self.policy.stable_for:
                self.probing = False
                self.wait = self.policy.first_probe
            return None
        if self.bad_since is None:
            self.bad_since = sample.at
        if sample.at - self.bad_since < self.policy.bad_for:
            return None
        return self._to_audio_only(sample.at, why)

    def tick(self, now: float) -> Verdict | None:
        """The clock alone: in audio-only, try video again when the wait is over."""
        if (
            self.verdict is Verdict.AUDIO_ONLY
            and self.probe_at is not None
            and now >= self.probe_at
        ):
            self.verdict = Verdict.VIDEO
            self.video_since = now
            self.bad_since = None
            self.probe_at = None
            # The queue drained while audio-only: the best round trip is learnt afresh.
            self.best_rtt = None
            self.reason = ""
            self.probing = True
            return self.verdict
        return None

    def _to_audio_only(self, now: float, why: str) -> Verdict:
        if self.probing:
            self.wait = min(self.wait * 2, self.policy.longest_probe)
            self.probing = False
        self.verdict = Verdict.AUDIO_ONLY
        self.reason = why
        self.probe_at = now + self.wait
        self.bad_since = None
        return self.verdict
