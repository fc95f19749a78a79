"""A participant in another namespace: joins with an invitation token, waits to be
admitted, publishes, and prints one JSON line a second with the frames it decoded per
source and kind (and its subscriber's connection states).

    ip netns exec CLIENT python -m tests.netlab.remote_party -- URL TOKEN ADDRESS

(``--``: an invitation token may begin with ``-``, which argparse would take for an option.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp

from tests.integration.room_client import RoomClient, wait_until
from tests.rooms import media_clients


async def run(url: str, token: str, address: str) -> None:
    media_clients.HOST[:] = [address]
    async with aiohttp.ClientSession(base_url=url) as http:
        party = RoomClient(http, f"token={token}")
        joined = await party.connect()
        print(json.dumps({"pid": party.pid, "admission": joined["admission"]}), flush=True)
        await wait_until(lambda: party.got("you_were_admitted"), within=60, what="admission")
        await party.publish()
        start = time.monotonic()
        try:
            while True:
                assert party.media is not None
                counts = {
                    f"{source}/{kind}": n
                    for (source, kind), n in party.media.subscriber.counts.items()
                    if source is not None
                }
                line = {
                    "t": round(time.monotonic() - start, 3),
                    "counts": counts,
                    "room_self": next(
                        (p for p in party.room.get("participants", []) if p["id"] == party.pid),
                        None,
                    ),
                }
                print(json.dumps(line), flush=True)
                await asyncio.sleep(1.0)
        finally:
            await party.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("address", help="the address this party's media gathers on")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.token, args.address))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
