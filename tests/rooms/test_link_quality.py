"""The audio-only rule: congestion stops a subscriber's video, random loss does not, and
video comes back by probing with a growing wait."""

from __future__ import annotations

from server.rooms.link_quality import Feedback, LinkJudge, Policy, Verdict

POLICY = Policy()


def feed(
    judge: LinkJudge, start: float, end: float, step: float = 0.5, **fields: object
) -> list[tuple[float, Verdict]]:
    """Samples every ``step`` s from ``start`` to ``end``; the verdicts that changed, timed."""
    changes: list[tuple[float, Verdict]] = []
    t = start
    while t <= end + 1e-9:
        verdict = judge.observe(Feedback(at=t, **fields))  # type: ignore[arg-type]
        if verdict is not None:
            changes.append((t, verdict))
        t += step
    return changes


def started(at: float = 0.0) -> LinkJudge:
    judge = LinkJudge(POLICY)
    judge.start(at)
    return judge


def test_a_good_link_keeps_its_video() -> None:
    judge = started()
    assert (
        feed(judge, 0, 60, rtt=0.03, fraction_lost=0.01, estimate_bps=900_000, sent_bps=800_000)
        == []
    )


def test_random_loss_alone_keeps_video_on() -> None:
    # 20 % loss on a radio link: the queue does not grow and the estimate holds.
    judge = started()
    assert (
        feed(judge, 0, 60, rtt=0.15, fraction_lost=0.2, estimate_bps=700_000, sent_bps=600_000)
        == []
    )


def test_a_growing_queue_stops_video_after_it_lasts() -> None:
    judge = started()
    assert feed(judge, 0, 5, rtt=0.05) == []
    # The round trip climbs 400 ms above the best and the queue overflows a little.
    changes = feed(judge, 5.5, 10, rtt=0.45, fraction_lost=0.05)
    assert changes == [(5.5 + POLICY.bad_for, Verdict.AUDIO_ONLY)]
    assert judge.reason == "queue"


def test_a_round_trip_that_rises_alone_is_a_busy_server_not_the_link() -> None:
    judge = started()
    feed(judge, 0, 5, rtt=0.05)
    assert feed(judge, 5.5, 30, rtt=0.6, fraction_lost=0.0) == []


def test_a_short_spike_is_forgiven() -> None:
    judge = started()
    feed(judge, 0, 5, rtt=0.05)
    assert feed(judge, 5.5, 6.5, rtt=0.6, fraction_lost=0.1) == []  # shorter than bad_for
    assert feed(judge, 7, 20, rtt=0.05) == []


def test_an_estimate_far_below_what_is_sent_is_congestion() -> None:
    judge = started()
    changes = feed(judge, 0, 10, estimate_bps=100_000, sent_bps=900_000)
    assert changes and changes[0][1] is Verdict.AUDIO_ONLY
    assert judge.reason == "estimate"


def test_an_idle_links_low_estimate_says_nothing() -> None:
    judge = started()
    assert feed(judge, 0, 30, estimate_bps=40_000, sent_bps=60_000) == []


def test_heavy_loss_stops_video() -> None:
    judge = started()
    changes = feed(judge, 0, 10, fraction_lost=0.6)
    assert changes[0][1] is Verdict.AUDIO_ONLY and judge.reason == "loss"


def test_the_first_seconds_are_not_judged() -> None:
    judge = started(at=100.0)
    assert feed(judge, 100, 100 + POLICY.settle - 0.5, fraction_lost=0.9) == []


def test_video_is_probed_again_with_a_doubling_wait_while_the_link_stays_bad() -> None:
    judge = started()
    down = feed(judge, 0, 10, fraction_lost=0.9)[0][0]
    # Audio-only: the clock brings the first probe after first_probe seconds.
    assert judge.tick(down + POLICY.first_probe - 0.1) is None
    assert judge.tick(down + POLICY.first_probe) is Verdict.VIDEO
    probe = down + POLICY.first_probe
    # Still bad: down again, and the next wait is twice as long.
    again = feed(judge, probe, probe + 10, fraction_lost=0.9)[0][0]
    assert judge.probe_at == again + 2 * POLICY.first_probe
    assert judge.tick(again + 2 * POLICY.first_probe) is Verdict.VIDEO
    third = feed(judge, judge.video_since, judge.video_since + 10, fraction_lost=0.9)[0][0]
    assert judge.probe_at == third + 4 * POLICY.first_probe


def test_the_wait_never_exceeds_the_longest() -> None:
    judge = started()
    t = 0.0
    for _ in range(10):
        t = feed(judge, t, t + 10, fraction_lost=0.9)[0][0]
        assert judge.probe_at is not None and judge.probe_at - t <= POLICY.longest_probe
        t = judge.probe_at
        judge.tick(t)


def test_a_probe_that_holds_resets_the_wait() -> None:
    judge = started()
    t = feed(judge, 0, 10, fraction_lost=0.9)[0][0]
    judge.tick(t + POLICY.first_probe)
    t = feed(judge, t + POLICY.first_probe, t + POLICY.first_probe + 5, fraction_lost=0.9)[0][0]
    assert judge.wait == 2 * POLICY.first_probe
    probe = judge.probe_at
    assert probe is not None
    judge.tick(probe)
    # The link recovered: the probe holds for stable_for, and the wait is back to the first.
    assert feed(judge, probe, probe + POLICY.stable_for + 1, rtt=0.05, fraction_lost=0.0) == []
    assert judge.wait == POLICY.first_probe


def test_samples_in_audio_only_do_not_bring_video_back_early() -> None:
    judge = started()
    t = feed(judge, 0, 10, fraction_lost=0.9)[0][0]
    assert feed(judge, t + 0.5, t + POLICY.first_probe - 0.5, rtt=0.03, fraction_lost=0.0) == []
    assert judge.verdict is Verdict.AUDIO_ONLY
