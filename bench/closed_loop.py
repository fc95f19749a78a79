"""Closed-loop benchmark: the statistics and follow-up pages on a station's years of records.

``python -m bench.closed_loop [--db PATH] [--disputes 50000] [--events 200000] [--runs 20]
[--json]``

1. generates the data set (bench/closed_loop_data.py) into ``--db`` unless that
   file exists already (``--regenerate`` forces it);
2. starts the real app (``create_app``) on aiohttp's test server, on 127.0.0.1,
   and logs in as the station chief through the login form;
3. times, over real HTTP, ``--runs`` requests each (after one warm-up) of:
   ``/stats`` (this local year), ``/stats`` over the whole four years,
   ``/stats/review`` (the last 30 days), ``/followups`` when the app has that
   page, and, straight on the database, the query of open follow-up tasks
   ordered by due date (the follow-up list's own query);
4. prints median and p95 per item against the 300 ms target (``--json``: one
   JSON object). A missed target is printed as FAIL but never changes the
   exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bench.closed_loop_data import PASSWORD, YEARS, generate
from server.app import create_app
from server.config import Config
from server.db import make_engine, make_session_factory
from server.stats.tables import FOLLOWUP_TASK

TARGET_MS = 300.0
SECRET = "closed-loop-benchmark-secret-0123456789abcdef"
Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Timing:
    name: str
    runs: int
    median_ms: float
    p95_ms: float
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.median_ms <= TARGET_MS

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runs": self.runs,
            "median_ms": round(self.median_ms, 1),
            "p95_ms": round(self.p95_ms, 1),
            "status": self.status,
            "ok": self.ok,
        }


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with ``share`` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


async def timed(name: str, runs: int, once: Callable[[], Awaitable[int]]) -> Timing:
    status = await once()  # warm-up: caches, the first connection, template compilation
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        status = await once()
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(name, runs, statistics.median(samples), percentile(samples, 0.95), status)


def get(client: Client, path: str) -> Callable[[], Awaitable[int]]:
    async def once() -> int:
        response = await client.get(path)
        await response.read()
        return response.status

    return once


async def login(client: Client, username: str = "chief") -> None:
    page = await client.get("/login")
    text = await page.text()
    marker = 'name="csrf_token" value="'
    token = text[text.index(marker) + len(marker) :].split('"', 1)[0]
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    if response.status != 303:
        raise RuntimeError(f"login as {username} failed: {response.status}")


def has_route(app: web.Application, path: str) -> bool:
    return any(getattr(resource, "canonical", None) == path for resource in app.router.resources())


async def time_followup_page(client: Client, runs: int) -> Timing | None:
    """The follow-up list page (``/followups``, overdue first), when the app has it."""
    if not has_route(client.app, "/followups"):
        return None
    return await timed("GET /followups", runs, get(client, "/followups"))


async def time_open_followups_query(database_url: str, runs: int, limit: int = 50) -> Timing:
    """The follow-up list's query: the station's open tasks, earliest due first (a page)."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    t = FOLLOWUP_TASK.c
    query = (
        select(t.id, t.dispute_id, t.office_id, t.due_on, t.assignee_id)
        .where(t.station_id == 1, t.status == "open")
        .order_by(t.due_on, t.id)
        .limit(limit)
    )

    async def once() -> int:
        async with factory() as db:
            conn = await db.connection()
            rows = (await conn.execute(query)).all()
        return 200 if rows else 204

    try:
        return await timed("SQL open follow-ups by due date", runs, once)
    finally:
        await engine.dispose()


async def run(db_path: Path, runs: int) -> list[Timing]:
    """``db_path`` must be absolute (``main`` resolves it before the loop starts)."""
    with tempfile.TemporaryDirectory(prefix="concord-bench-") as data_dir:
        url = f"sqlite+aiosqlite:///{db_path}"
        config = Config(data_dir=Path(data_dir), database_url=url, secret_key=SECRET)
        app = create_app(config)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            await login(client)
            today = datetime.now(UTC).astimezone(ZoneInfo(config.timezone)).date()
            everything = f"date_from={date(today.year - YEARS, 1, 1)}&date_to={today}"
            results = [
                await timed("GET /stats (this year)", runs, get(client, "/stats")),
                await timed(
                    f"GET /stats ({YEARS + 1} years)", runs, get(client, f"/stats?{everything}")
                ),
                await timed("GET /api/v1/stats (this year)", runs, get(client, "/api/v1/stats")),
                await timed("GET /stats/review (30 days)", runs, get(client, "/stats/review")),
            ]
            followups = await time_followup_page(client, runs)
            if followups is not None:
                results.append(followups)
        finally:
            await client.close()
        results.append(await time_open_followups_query(url, runs))
    return results


def table(results: Sequence[Timing]) -> str:
    lines = [f"{'what':<36} {'runs':>5} {'median ms':>10} {'p95 ms':>8}  target {TARGET_MS:.0f} ms"]
    for r in results:
        verdict = "ok" if r.ok else f"FAIL (HTTP {r.status})" if r.status != 200 else "FAIL"
        lines.append(f"{r.name:<36} {r.runs:>5} {r.median_ms:>10.1f} {r.p95_ms:>8.1f}  {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("var/bench-closed-loop.db"))
    parser.add_argument("--disputes", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    summary = None
    if args.regenerate or not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        summary = generate(args.db, disputes=args.disputes, events=args.events)
        print(
            f"generated {summary.disputes} disputes, {summary.events} timeline entries in "
            f"{summary.seconds:.1f} s",
            file=sys.stderr,
        )
    results = asyncio.run(run(args.db.resolve(), args.runs))
    if args.json:
        print(
            json.dumps(
                {
                    "db": str(args.db),
                    "generated": summary is not None,
                    "target_ms": TARGET_MS,
                    "results": [r.as_json() for r in results],
                }
            )
        )
        print(table(results), file=sys.stderr)
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
