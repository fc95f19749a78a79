"""The 调解笔录 PDF: how long a sign-off's paper takes, and what the event loop feels.

The paper is made in the agreement worker (``AgreementWorks.produce_minutes``).
For each size (entries) this prints the median time to render and seal, and the
worst stall of a ticker on the event loop meanwhile; then the same in a thread
(``asyncio.to_thread``), the way the paper was first made, for comparison: a
thread holds the GIL the rooms' media need on the same process.

    python -m bench.minutes_paper [--sizes 10,60,200] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.agreements import Ticker
from server.agreements.pki import create_station_pki
from server.agreements.settings import SealerSettings
from server.agreements.works import AgreementWorks
from server.minutes.paper import MinutesPaper, Row

SPEAKERS = ("王丽华（申请人）", "张国强（被申请人）", "陈律师（律师）")


def paper_of(entries: int) -> MinutesPaper:
    """A 笔录 of ``entries`` statements of some 60 characters each."""
    rows = tuple(
        Row(
            f"{10 + i // 60:02d}:{i % 60:02d}:00",
            SPEAKERS[i % 3],
            f"第{i + 1}条陈述：对方家的狗每天夜里叫到两点，已经影响到老人和孩子的休息。" * 2,
        )
        for i in range(entries)
    )
    return MinutesPaper(
        case_reference="W-2026-0042",
        dispute_title="养犬扰邻",
        station_name="白石派出所",
        office_name="滨河社区警务室",
        session_time="2026年12月7日 10:00—11:00",
        place="线上视频调解（白石派出所滨河社区警务室）",
        presiding_label="主持人",
        presiding_name="李警官",
        clerks=("周内勤",),
        participants=SPEAKERS,
        rows=rows,
        signed_off_line="主持人李警官于2026年12月7日 11:02确认以上笔录无误。",
        entries_sha256="ab" * 32,
        made_at_iso="2026-12-07T11:02:00+08:00",
    )


async def _timed(job: asyncio.Future[bytes] | asyncio.Task[bytes]) -> tuple[float, float]:
    """Seconds the job took and the worst stall of the loop meanwhile."""
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    start = time.perf_counter()
    await job
    took = time.perf_counter() - start
    ticker.stop()
    await ticking
    return took, ticker.max_stall_s


async def measure(sizes: list[int], runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_station_pki(Path(tmp), "白石派出所")
        settings = SealerSettings(pki.key_path, pki.cert_path, (pki.ca_cert_path,))
        works = AgreementWorks(settings)
        await works.warm()
        from server.agreements.seal import Sealer
        from server.minutes.paper import make_pdf

        sealer = Sealer.from_settings(settings)
        # Warm the thread path too (fonts, templates); pyHanko seals with its own loop.
        await asyncio.to_thread(make_pdf, paper_of(1), sealer)
        results = []
        try:
            for size in sizes:
                doc = paper_of(size)
                worker = [
                    await _timed(asyncio.ensure_future(works.produce_minutes(doc)))
                    for _ in range(runs)
                ]
                thread = [
                    await _timed(asyncio.ensure_future(asyncio.to_thread(make_pdf, doc, sealer)))
                    for _ in range(runs)
                ]
                results.append(
                    {
                        "entries": size,
                        "worker_s": round(statistics.median(t for t, _ in worker), 3),
                        "worker_max_stall_ms": round(max(s for _, s in worker) * 1000, 1),
                        "thread_s": round(statistics.median(t for t, _ in thread), 3),
                        "thread_max_stall_ms": round(max(s for _, s in thread) * 1000, 1),
                    }
                )
        finally:
            await works.close()
    return {"runs": runs, "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,60,200")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    report = asyncio.run(measure(sizes, args.runs))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print(f"调解笔录 PDF, median of {report['runs']} runs; worst event-loop stall meanwhile")
    print(f"{'entries':>8} {'worker s':>9} {'stall ms':>9} {'thread s':>9} {'stall ms':>9}")
    for row in report["results"]:  # type: ignore[attr-defined]
        print(
            f"{row['entries']:>8} {row['worker_s']:>9} {row['worker_max_stall_ms']:>9} "
            f"{row['thread_s']:>9} {row['thread_max_stall_ms']:>9}"
        )


if __name__ == "__main__":
    main()
