"""A participant behind a firewall that leaves it only the TURN server: joins with an
invitation token, takes the TURN entry of the join reply's ``ice_servers`` (the one URL
given with ``--turn-url``, since aiortc uses a single TURN URL where a browser tries them
all), waits to be admitted, publishes, and prints one JSON line a second: frames decoded
per source and kind, the candidate pair each of its connections selected, and when the
first video frame was decoded.

    ip netns exec CLIENT python -m tests.netlab.turn_party --turn-url URL -- URL TOKEN ADDRESS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
from aiortc import RTCIceServer, RTCPeerConnection

from tests.integration.room_client import RoomClient, wait_until
from tests.rooms import media_clients


def selected_pair(pc: RTCPeerConnection | None) -> dict[str, Any] | None:
    """The candidate pair ICE nominated on ``pc``'s one (bundled) transport, if any.

    aiortc does not report candidate pairs in ``getStats()``; aioice's connection
    keeps the nominated pair per component (test-only reach into private state).
    """
    if pc is None or not pc.getTransceivers():
        return None
    ice = pc.getTransceivers()[0].receiver.transport.transport
    connection = getattr(ice, "_connection", None)
    pair = getattr(connection, "_nominated", {}).get(1)
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    return {
        "local_type": local.type,
        "local": [local.host, local.port],
        "local_transport": local.transport,
        "remote_type": remote.type,
        "remote": [remote.host, remote.port],
    }


def turn_servers(ice_servers: list[dict[str, Any]], turn_url: str) -> list[RTCIceServer]:
    """The join reply's TURN entry with only ``turn_url``; it must be among its URLs."""
    for server in ice_servers:
        if turn_url in server.get("urls", []):
            return [RTCIceServer(turn_url, server["username"], server["credential"])]
    raise SystemExit(f"{turn_url} is not in the join reply's ice_servers: {ice_servers}")


async def run(url: str, token: str, address: str, turn_url: str) -> None:
    media_clients.HOST[:] = [address]
    async with aiohttp.ClientSession(base_url=url) as http:
        party = RoomClient(http, f"token={token}")
        joining = time.monotonic()
        joined = await party.connect()
        media_clients.ICE_SERVERS[:] = turn_servers(joined["ice_servers"], turn_url)
        print(json.dumps({"pid": party.pid, "admission": joined["admission"]}), flush=True)
        await wait_until(lambda: party.got("you_were_admitted"), within=60, what="admission")
        admitted = time.monotonic()
        assert party.media is not None
        media = party.media
        first_frame: list[float] = []

        def videos() -> int:
            return sum(n for (_, kind), n in media.subscriber.counts.items() if kind == "video")

        async def watch_first_frame() -> None:
            while not videos():  # noqa: ASYNC110 (a plain Counter: no event to wait on)
                await asyncio.sleep(0.01)
            first_frame.append(time.monotonic())

        watcher = asyncio.create_task(watch_first_frame())  # from before publishing
        await party.publish()
        try:
            while True:
                line = {
                    "t": round(time.monotonic() - joining, 3),
                    "counts": {
                        f"{source}/{kind}": n
                        for (source, kind), n in media.subscriber.counts.items()
                        if source is not None
                    },
                    "publisher_pair": selected_pair(media.publisher.pc),
                    "subscriber_pair": selected_pair(media.subscriber.pc),
                    "join_to_first_frame": round(first_frame[0] - joining, 3)
                    if first_frame
                    else None,
                    "admitted_to_first_frame": round(first_frame[0] - admitted, 3)
                    if first_frame
                    else None,
                }
                print(json.dumps(line), flush=True)
                await asyncio.sleep(1.0)
        finally:
            watcher.cancel()
            await party.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("address", help="the address this party's media gathers on")
    parser.add_argument("--turn-url", required=True, help="the TURN URL to use from the reply")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.token, args.address, args.turn_url))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
