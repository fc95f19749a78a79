"""The room page in real Chromium over a bad link: a blackhole, a change of address,
heavy loss. Figures are printed (``-s``) for the closing notes.

The party's Chromium runs in the client namespace of tests/netlab/topology.py, so
everything it sends crosses the link emulator; the presiding officer's Chromium and
the Concord server (in-process, on the test's event loop moved there with
tests/netlab/inside.py) sit in the server namespace, beside each other. Both
browsers use the fake camera and microphone of the other browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from server.config import Config
from server.db import SessionFactory
from tests.browser.test_room import TIMEOUT
from tests.conftest import Seed
from tests.netlab.browser_room import BROWSER_ON_A_BAD_LINK, BrowserRoom, browser_room, latest
from tests.netlab.chromium import (
    media_report,
    page_clock,
    page_events,
)
from tests.netlab.topology import (
    CLIENT_ADDRESS,
    sh,
)

pytestmark = BROWSER_ON_A_BAD_LINK

#: The target for being back after the link returns (or the address changes). Printed,
#: not asserted: on this loaded 2-core machine the blackhole took 1.3-2.0 s and the
#: address change 4.7-6.1 s (the party's new subscriber connection is ICE-connected at
#: once, but Chromium's first DTLS ClientHello on it leaves 1.4-3 s later), so the
#: tests assert LOOSE_BOUND_SECONDS instead.
TARGET_SECONDS = 2.0
LOOSE_BOUND_SECONDS = 10.0
#: New frames that count as video flowing again (not one straggler).
FRAMES_BACK = 5
#: The party's address after its network changes, and its way out (the router).
NEW_CLIENT_ADDRESS = "10.81.1.3"
CLIENT_GATEWAY = "10.81.1.1"


@dataclass
class Recovery:
    """How long after ``since`` each side decoded new video, and what the page went through."""

    officer_s: float | None = None
    party_s: float | None = None
    states: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    #: Both sides still decoded new video a few seconds after coming back.
    steady: bool = False

    @property
    def back_s(self) -> float | None:
        if self.officer_s is None or self.party_s is None:
            return None
        return max(self.officer_s, self.party_s)


async def watch_page(room: BrowserRoom, into: Recovery, stop: asyncio.Event) -> None:
    """What the party's page says it is doing, sampled until ``stop``."""
    while not stop.is_set():
        attributes = await room.party.evaluate(
            "() => { const r = document.getElementById('room');"
            " return [r.dataset.state || '', r.dataset.connection || '',"
            " (r.dataset.publisher || '') + '/' + (r.dataset.subscriber || '')]; }"
        )
        for seen, value in zip(
            (into.states, into.connections, into.media), attributes, strict=True
        ):
            if not seen or seen[-1] != value:
                seen.append(value)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await stop.wait()


async def time_back(room: BrowserRoom, within: float = 60.0) -> Recovery:
    """From now: seconds until both pages decode FRAMES_BACK new frames of the other."""
    since = time.monotonic()
    officer0 = await room.officer_frames.total()
    party0 = await room.party_frames.total()
    result = Recovery()
    while time.monotonic() - since < within:
        if result.officer_s is None and await room.officer_frames.total() >= officer0 + FRAMES_BACK:
            result.officer_s = time.monotonic() - since
        if result.party_s is None and await room.party_frames.total() >= party0 + FRAMES_BACK:
            result.party_s = time.monotonic() - since
        if result.back_s is not None:
            break
        await asyncio.sleep(0.1)
    return result


async def disturbed(
    room: BrowserRoom,
    disturb: Callable[[], Awaitable[None]],
    restore: Callable[[], Awaitable[None]],
) -> Recovery:
    """Run ``disturb``, then ``restore``, and time from ``restore``'s end until video is back,
    watching the party's page all along."""
    page_seen = Recovery()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_page(room, page_seen, stop))
    try:
        await disturb()
        await restore()
        result = await time_back(room)
        # Video keeps flowing afterwards (a connection torn down later would stop it),
        # and a later trip to the lobby would show in the states watched.
        await asyncio.sleep(2.0)
        steady = await time_back(room, within=10.0)
        result.steady = steady.back_s is not None
    finally:
        stop.set()
        await watcher
    result.states, result.connections = page_seen.states, page_seen.connections
    result.media = page_seen.media
    return result


def describe(result: Recovery) -> str:
    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.2f} s"

    return (
        f"officer decodes the party again after {seconds(result.officer_s)}, "
        f"the party decodes the officer after {seconds(result.party_s)}; "
        f"page states {result.states}, socket {result.connections}, "
        f"publisher/subscriber {result.media}, video still flowing 2 s later: {result.steady}"
    )


async def current_addresses(page: Page) -> dict[str, str]:
    """The local address each of the page's current two connections sends from."""
    report = await media_report(page)
    return {role: latest(report, role)["pair"] or "" for role in ("publisher", "subscriber")}


async def test_a_five_second_blackhole_the_page_comes_back_without_the_lobby(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with browser_room(tmp_path, config, factory, seed) as room:
        link = room.topology.link

        async def blackhole() -> None:
            await link.set(blackhole=True)
            await asyncio.sleep(5.0)

        async def restore() -> None:
            await link.set(blackhole=False)

        clock = await page_clock(room.party)
        result = await disturbed(room, blackhole, restore)
        counters = (await link.report())["up"]["counters"]
        report = await media_report(room.party)
        print(
            f"\n5 s blackhole ({counters['blackholed']} packets up dropped): {describe(result)}; "
            f"the page made {len(report)} peer connections in all; its events (ms) "
            f"{[(round(t - clock), e) for t, e in await page_events(room.party, clock)]}"
        )
        assert "lobby" not in result.states, result.states
        assert result.back_s is not None, describe(result)
        assert result.steady, describe(result)
        assert result.back_s <= LOOSE_BOUND_SECONDS, describe(result)
        print(
            json.dumps(
                {
                    "blackhole_back_s": round(result.back_s, 2),
                    "within_target": result.back_s <= TARGET_SECONDS,
                }
            )
        )


async def test_a_new_address_the_page_comes_back_without_the_lobby(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with browser_room(tmp_path, config, factory, seed) as room:
        client = room.topology.client

        async def move() -> None:
            # As a phone moving from Wi-Fi to 4G: the old address is gone at once,
            # every socket bound to it is dead, and a new address takes its place.
            sh("ip", "-n", client, "addr", "del", f"{CLIENT_ADDRESS}/24", "dev", "eth0")
            sh("ip", "-n", client, "addr", "add", f"{NEW_CLIENT_ADDRESS}/24", "dev", "eth0")
            sh("ip", "-n", client, "route", "replace", "default", "via", CLIENT_GATEWAY)

        async def nothing() -> None:
            return None

        clock = await page_clock(room.party)
        result = await disturbed(room, move, nothing)
        addresses = await current_addresses(room.party)
        print(
            f"\naddress {CLIENT_ADDRESS} -> {NEW_CLIENT_ADDRESS}: {describe(result)}; "
            f"the page's connections now send from {addresses}; its events (ms) "
            f"{[(round(t - clock), e) for t, e in await page_events(room.party, clock)]}"
        )
        assert "lobby" not in result.states, result.states
        assert result.back_s is not None, describe(result)
        assert result.steady, describe(result)
        assert result.back_s <= LOOSE_BOUND_SECONDS, describe(result)
        assert addresses == {"publisher": NEW_CLIENT_ADDRESS, "subscriber": NEW_CLIENT_ADDRESS}
        print(
            json.dumps(
                {
                    "new_address_back_s": round(result.back_s, 2),
                    "within_target": result.back_s <= TARGET_SECONDS,
                }
            )
        )


def audio_in(report: list[dict[str, Any]]) -> dict[str, float]:
    """Received audio on the page's current subscriber connection, summed over sources."""
    inbound = [s for s in latest(report, "subscriber")["inbound"] if s["kind"] == "audio"]
    fields = ("packetsReceived", "packetsLost", "totalSamplesReceived", "concealedSamples")
    totals = {name: float(sum(s[name] for s in inbound)) for name in fields}
    fec = [s["fecPacketsReceived"] for s in inbound if s["fecPacketsReceived"] is not None]
    totals["fecPacketsReceived"] = float(sum(fec)) if fec else -1.0
    return totals


def opus_fmtp(sdp: str) -> str:
    """The ``a=fmtp`` parameters of the first Opus payload type in ``sdp``."""
    lines = sdp.splitlines()
    opus = next(line.split(":", 1)[1].split(" ")[0] for line in lines if "opus/48000" in line)
    return next((line.split(" ", 1)[1] for line in lines if line.startswith(f"a=fmtp:{opus} ")), "")


async def test_twenty_percent_loss_fec_is_negotiated_the_notice_shows_and_sound_flows(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with browser_room(tmp_path, config, factory, seed) as room:
        publisher = latest(await media_report(room.party), "publisher")
        offered, answered = opus_fmtp(publisher["local"]), opus_fmtp(publisher["remote"])
        assert "useinbandfec=1" in offered.split(";"), offered
        assert "useinbandfec=1" in answered.split(";"), answered

        notice = room.party.locator("#network-notice")
        await expect(notice).to_be_hidden()
        await room.topology.link.set(loss=0.2)
        await expect(notice).to_have_attribute("data-state", "weak", timeout=TIMEOUT)
        await expect(notice).to_be_visible()

        window = 10.0
        before = {who: audio_in(await media_report(p)) for who, p in room.pages().items()}
        await asyncio.sleep(window)
        after = {who: audio_in(await media_report(p)) for who, p in room.pages().items()}
        link = await room.topology.link.report()
        figures: dict[str, dict[str, float]] = {}
        for who in after:
            delta = {k: after[who][k] - before[who][k] for k in after[who]}
            samples = delta["totalSamplesReceived"]
            figures[who] = {
                "packets_per_s": round(delta["packetsReceived"] / window, 1),
                "lost_share": round(
                    delta["packetsLost"]
                    / max(1.0, delta["packetsLost"] + delta["packetsReceived"]),
                    3,
                ),
                "concealed_share": round(delta["concealedSamples"] / samples, 3) if samples else -1,
                "fec_packets": delta["fecPacketsReceived"]
                if after[who]["fecPacketsReceived"] >= 0
                else -1,
            }
        print(
            f"\n20 % loss both ways (link lost {link['up']['counters']['lost']} up, "
            f"{link['down']['counters']['lost']} down); Opus fmtp offered {offered!r}, "
            f"answered {answered!r}; audio received over {window:.0f} s: {json.dumps(figures)}"
        )
        # Sound keeps coming both ways, through the loss.
        for who, seen in figures.items():
            assert seen["packets_per_s"] >= 10, (who, figures)
            assert 0 < seen["concealed_share"] < 1, (who, figures)
        # The party's encoder, told of the loss on its uplink by the server's receiver
        # reports, sends in-band FEC, and the officer's decoder uses it. (The officer's
        # own uplink is clean, so nothing asks its encoder for FEC.)
        if figures["officer"]["fec_packets"] >= 0:
            assert figures["officer"]["fec_packets"] > 0, figures
