"""Agreement benchmark: render + seal through the worker pool, and the loop meanwhile.

``python -m bench.agreements [--count 20] [--workers 1] [--baseline 1] [--out DIR] [--json]``

1. builds a realistic agreement (people's track, two parties, six terms,
   three drawn signatures, the sample seal, an evidence row per signer);
2. creates a throwaway demo PKI in a temporary directory;
3. lets the ticker (below) run alone for ``--baseline`` seconds: the stalls
   the machine causes by itself (other processes on the two cores);
4. starts ``AgreementWorks`` and waits until its worker is warm;
5. produces ``--count`` sealed agreements one after another while a ticker
   on the event loop sleeps 1 ms at a time and records how late it wakes
   (the stall the video rooms on the same loop would feel);
6. verifies the last PDF through the pool as a sanity check.

Targets: median render+seal ≤ 0.5 s, longest loop stall ≤ 10 ms (2 cores).
A missed target is printed as FAIL but never changes the exit status.
``--json`` prints exactly one JSON object instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from server.agreements.document import (
    PEOPLE,
    AgreementDocument,
    EvidenceRow,
    PersonBlock,
    SignatureMark,
)
from server.agreements.pki import create_station_pki
from server.agreements.rules import PRESIDING_LABELS, TITLES, TextHeader, signed_text
from server.agreements.sample_seal import sample_seal_png
from server.agreements.schemas import DraftContent
from server.agreements.settings import SealerSettings
from server.agreements.works import AgreementWorks

TARGET_MEDIAN_S = 0.5
TARGET_STALL_MS = 10.0
TICK_S = 0.001

STATION = "白石派出所"
COMMITTEE = "白石街道人民调解委员会"


def signature_png(name: str, *, width: int = 600, height: int = 200) -> bytes:
    """A handwriting-like scribble, the same for the same name (seeded by it).

    A chain of loops whose size and slant wander like a quick signature on a
    phone, drawn with a round pen in dark ink on a transparent background.
    """
    rng = random.Random(hashlib.sha256(name.encode()).digest())
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = (20, 24, 60, 255)
    strokes = max(2, min(len(name), 4))
    x = width * 0.08
    for _ in range(strokes):
        points: list[tuple[float, float]] = []
        loops = rng.randint(2, 4)
        span = width * 0.8 / strokes
        radius_y = height * rng.uniform(0.18, 0.3)
        slant = rng.uniform(-0.35, 0.1)
        base = height * rng.uniform(0.45, 0.6)
        steps = 40 * loops
        for step in range(steps + 1):
            t = step / steps
            phase = 2 * math.pi * loops * t
            wobble = 1 + 0.25 * math.sin(3.1 * phase + rng.random())
            y = base - radius_y * wobble * math.sin(phase)
            px = x + span * t + span * 0.12 * math.cos(phase) + slant * (y - base)
            points.append((px, y))
        draw.line(points, fill=ink, width=6, joint="curve")
        x += span
    # The underline flourish most quick signatures end with.
    draw.line(
        [(width * 0.1, height * 0.85), (width * 0.55, height * 0.8), (width * 0.9, height * 0.88)],
        fill=ink,
        width=4,
        joint="curve",
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def sample_document(
    track: str = PEOPLE,
    *,
    version: int = 1,
    verify_url: str = "https://concord.baishi.example.cn/verify/2026-0042",
) -> AgreementDocument:
    """A realistic agreement: two parties, six terms, three signatures, evidence rows.

    The body is composed by the rules from a draft, exactly as sealing does.
    Also used by the tests (``tests/agreements``) as their document.
    """
    people = track == PEOPLE
    presiding_label = PRESIDING_LABELS[track]
    presiding_name = "周建华" if people else "王志强"
    mediating_body = COMMITTEE if people else STATION
    header = TextHeader(
        track=track,
        mediating_body=mediating_body,
        presiding_name=presiding_name,
        others_present=("陈敏（人民调解员助理）", "刘洋（社区网格员，观察员）"),
        session_time="2026年11月25日 09:30—10:40",
        session_place="远程视频调解（白石派出所滨河社区警务室主持）",
        parties=(
            PersonBlock(
                role_label="申请人",
                name="张伟",
                id_label="居民身份证",
                id_number="330106198503120017",
                address="滨河区白石街道滨河花园3幢2单元501室",
            ),
            PersonBlock(
                role_label="被申请人",
                name="李娜",
                id_label="居民身份证",
                id_number="330102199007254528",
                address="滨河区白石街道滨河花园3幢2单元601室",
            ),
        ),
        copies=3,
    )
    body = signed_text(header, SAMPLE_CONTENT if people else SAMPLE_POLICE_CONTENT)
    canonical = body.plain
    text_sha = hashlib.sha256(canonical.encode()).hexdigest()
    marks = (
        SignatureMark("申请人", "张伟", "2026年11月25日", signature_png("张伟")),
        SignatureMark("被申请人", "李娜", "2026年11月25日", signature_png("李娜")),
        SignatureMark(
            presiding_label, presiding_name, "2026年11月25日", signature_png(presiding_name)
        ),
    )
    evidence = tuple(
        EvidenceRow(
            role_label=mark.role_label,
            name=mark.name,
            outcome="已签名",
            at=f"2026-11-25 10:{42 + 2 * i}:{17 + i:02d} +08:00",
            ip=("223.104.63.*", "117.136.12.*", "10.21.4.*")[i],
            user_agent=(
                "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0.0.0 Safari/537.36",
            )[i],
            via=("本人调解邀请链接", "个人签名链接", "工作人员账号登录")[i],
            text_sha256=text_sha,
            image_sha256=hashlib.sha256(mark.image_png).hexdigest(),
            audit_ref=f"#{1234 + i}",
        )
        for i, mark in enumerate(marks)
    )
    return AgreementDocument(
        track=track,
        title=TITLES[track],
        case_number="（2026）白石调字第0042号" if people else "（2026）白石治调字第0017号",
        version=version,
        correction_reason="" if version == 1 else "第二条赔偿金额笔误，由3200元更正为3800元。",
        station_name=STATION,
        station_address="滨河区白石路18号",
        station_phone="0571-8888 1100",
        mediating_body=mediating_body,
        office_name="白石派出所滨河社区警务室",
        presiding_label=presiding_label,
        presiding_name=presiding_name,
        dispute_reference="JF-2026-0318",
        body=body,
        signatures=marks,
        sealed_on="2026年11月25日",
        sealed_at_iso="2026-11-25T10:47:03+08:00",
        seal_image_png=_seal_png(),
        seal_is_sample=True,
        text_sha256=text_sha,
        canonical_text=canonical,
        verify_url=verify_url,
        evidence=evidence,
        audit_refs=("#1230", "#1234", "#1235", "#1236"),
    )


TERMS = (
    "被申请人李娜赔偿申请人张伟吊顶、墙面及衣柜损失共计人民币叁仟捌佰元整（¥3800.00）。",
    "被申请人于2026年12月15日前委托有资质的施工单位重做卫生间防水层，"
    "并做闭水试验四十八小时，物业公司现场见证，试验结果书面告知申请人。",
    "维修期间，被申请人暂停使用卫生间淋浴设施；申请人配合施工单位进入其房屋查看渗水情况，"
    "每次须提前一日通知。",
    "维修完成后三个月内如再次发生渗水，被申请人应在接到通知后七日内重新维修，"
    "由此造成的新增损失另行协商赔偿。",
    "双方此后相互尊重、和睦相处，不得因本纠纷再行争吵、辱骂或采取其他过激行为。",
    "本协议履行完毕后，双方就本次渗水纠纷再无其他争议。",
)

POLICE_TERMS = (
    "李娜就2026年11月10日在楼道内辱骂张伟一事当面向张伟赔礼道歉，张伟表示接受。",
    "李娜赔偿张伟被损坏的手机屏幕维修费人民币陆佰元整（¥600.00）。",
    "双方保证今后不再因邻里琐事发生争吵、辱骂或肢体冲突。",
    "渗水损失由双方另行通过人民调解或诉讼途径解决，不在本协议范围内。",
    "双方对本次事件的处理结果无异议，张伟不再要求公安机关对李娜予以治安管理处罚。",
    "任何一方违反本协议约定的，另一方可以向公安机关反映，由公安机关依法处理。",
)


SAMPLE_CONTENT = DraftContent(
    facts=(
        "申请人张伟与被申请人李娜系上下楼邻居。2026年10月起，被申请人家中卫生间"
        "防水层老化，多次渗水至申请人家卫生间及卧室吊顶，造成吊顶石膏板霉变、"
        "墙面涂料起皮脱落、卧室衣柜底板受潮变形。申请人多次上门协商未果，"
        "双方于2026年11月10日在楼道内发生争吵，经社区网格员劝阻后平息。\n"
        "2026年11月18日，物业公司工程人员上门查看，确认渗水源为被申请人卫生间"
        "地面防水层破损，并出具了书面查看记录。"
    ),
    disputed_matters=(
        "一是渗水造成的财产损失数额及赔偿方式；二是被申请人卫生间防水层的维修期限；"
        "三是维修期间申请人家中的临时防护措施。"
    ),
    responsibility=(
        "被申请人作为房屋所有人，对其卫生间防水层负有维护义务，应对渗水造成的损失"
        "承担主要责任；申请人发现渗水后未及时通知物业采取临时措施，致使损失有所扩大，"
        "承担次要责任。"
    ),
    terms=TERMS,
    performance_manner="赔偿款由被申请人通过银行转账一次性支付至申请人指定账户；维修由被申请人委托有资质的施工单位进行，物业公司现场见证。",
    performance_deadline=date(2026, 12, 31),
)
SAMPLE_POLICE_CONTENT = SAMPLE_CONTENT.model_copy(
    update={"terms": POLICE_TERMS, "disputed_matters": "", "responsibility": ""}
)


_SEAL_CACHE: dict[str, bytes] = {}


def _seal_png() -> bytes:
    if STATION not in _SEAL_CACHE:
        _SEAL_CACHE[STATION] = sample_seal_png(STATION)
    return _SEAL_CACHE[STATION]


@dataclass
class Ticker:
    """Sleeps ``TICK_S`` at a time on the loop and records how late each wakeup is."""

    stalls_s: list[float] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ticks(self) -> int:
        return len(self.stalls_s)

    @property
    def max_stall_s(self) -> float:
        return max(self.stalls_s, default=0.0)

    def stall_quantile_s(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the stalls: the typical jitter next to the worst one."""
        if not self.stalls_s:
            return 0.0
        ordered = sorted(self.stalls_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not self._stop.is_set():
            await asyncio.sleep(TICK_S)
            now = loop.time()
            self.stalls_s.append(max(0.0, now - last - TICK_S))
            last = now

    def stop(self) -> None:
        self._stop.set()

    async def measure_alone(self, seconds: float) -> None:
        """Tick with nothing else going on: the machine's own scheduling noise."""
        task = asyncio.create_task(self.run())
        await asyncio.sleep(seconds)
        self.stop()
        await task


@dataclass
class Result:
    count: int
    workers: int
    warmup_s: float
    warmup_max_loop_stall_ms: float
    first_s: float
    durations_s: list[float]
    max_loop_stall_ms: float
    p99_loop_stall_ms: float
    baseline_max_loop_stall_ms: float
    pdf_kb: float
    pages: int
    verify_s: float
    valid: bool
    pdfs: list[bytes] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.durations_s)
        p90 = statistics.quantiles(ordered, n=10)[-1] if len(ordered) > 1 else ordered[0]
        return {
            "count": self.count,
            "workers": self.workers,
            "render_seal_median_s": round(statistics.median(ordered), 4),
            "render_seal_p90_s": round(p90, 4),
            "render_seal_max_s": round(ordered[-1], 4),
            "first_s": round(self.first_s, 4),
            "max_loop_stall_ms": round(self.max_loop_stall_ms, 2),
            "p99_loop_stall_ms": round(self.p99_loop_stall_ms, 2),
            "baseline_max_loop_stall_ms": round(self.baseline_max_loop_stall_ms, 2),
            "warmup_s": round(self.warmup_s, 3),
            "warmup_max_loop_stall_ms": round(self.warmup_max_loop_stall_ms, 2),
            "pdf_kb": round(self.pdf_kb, 1),
            "pages": self.pages,
            "verify_s": round(self.verify_s, 4),
            "valid": self.valid,
        }


def count_pages(pdf: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return int(reader.root["/Pages"]["/Count"])


async def run(count: int, workers: int, keep: bool = False, baseline_s: float = 1.0) -> Result:
    """Warm the pool, then produce ``count`` agreements while the ticker runs.

    First the ticker runs alone for ``baseline_s``: on a shared machine the
    process is sometimes not scheduled for a while, whatever it does, and
    that baseline tells such stalls apart from the ones the pool causes.
    """
    doc = sample_document()
    kept: list[bytes] = []
    baseline = Ticker()
    await baseline.measure_alone(baseline_s)
    with tempfile.TemporaryDirectory(prefix="concord-bench-agreements-") as tmp:
        pki = create_station_pki(Path(tmp), STATION)
        settings = SealerSettings(
            key_path=pki.key_path, cert_path=pki.cert_path, chain_paths=(pki.ca_cert_path,)
        )
        works = AgreementWorks(settings, workers=workers)
        try:
            warm_ticker = Ticker()
            warm_task = asyncio.create_task(warm_ticker.run())
            started = time.perf_counter()
            await works.warm()
            warmup_s = time.perf_counter() - started
            warm_ticker.stop()
            await warm_task

            ticker = Ticker()
            tick_task = asyncio.create_task(ticker.run())
            durations: list[float] = []
            pdf = b""
            for _ in range(count):
                started = time.perf_counter()
                pdf = await works.produce(doc, reason="调解协议书电子印章", location=STATION)
                durations.append(time.perf_counter() - started)
                if keep:
                    # Written after the run: disk writes on the loop would be measured as stalls.
                    kept.append(pdf)
            ticker.stop()
            await tick_task

            started = time.perf_counter()
            verdict = await works.verify(pdf, [pki.ca_cert_path])
            verify_s = time.perf_counter() - started
        finally:
            await works.close()
    return Result(
        count=count,
        workers=workers,
        warmup_s=warmup_s,
        warmup_max_loop_stall_ms=warm_ticker.max_stall_s * 1000,
        first_s=durations[0],
        durations_s=durations,
        max_loop_stall_ms=ticker.max_stall_s * 1000,
        p99_loop_stall_ms=ticker.stall_quantile_s(0.99) * 1000,
        baseline_max_loop_stall_ms=baseline.max_stall_s * 1000,
        pdf_kb=len(pdf) / 1024,
        pages=count_pages(pdf),
        verify_s=verify_s,
        valid=verdict.valid,
        pdfs=kept,
    )


def print_table(summary: dict[str, Any]) -> None:
    rows = [
        ("agreements produced", f"{summary['count']} (workers: {summary['workers']})"),
        ("worker start + warm-up", f"{summary['warmup_s']:.2f} s"),
        ("render+seal first", f"{summary['first_s']:.3f} s"),
        ("render+seal median", f"{summary['render_seal_median_s']:.3f} s"),
        ("render+seal p90", f"{summary['render_seal_p90_s']:.3f} s"),
        ("render+seal max", f"{summary['render_seal_max_s']:.3f} s"),
        ("max loop stall", f"{summary['max_loop_stall_ms']:.2f} ms"),
        ("p99 loop stall", f"{summary['p99_loop_stall_ms']:.2f} ms"),
        ("max loop stall, idle", f"{summary['baseline_max_loop_stall_ms']:.2f} ms (baseline)"),
        ("max loop stall, warm-up", f"{summary['warmup_max_loop_stall_ms']:.2f} ms"),
        ("pdf size", f"{summary['pdf_kb']:.1f} KB"),
        ("pages", str(summary["pages"])),
        ("verify (in worker)", f"{summary['verify_s'] * 1000:.1f} ms, valid: {summary['valid']}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    median_ok = summary["render_seal_median_s"] <= TARGET_MEDIAN_S
    stall_ok = summary["max_loop_stall_ms"] <= TARGET_STALL_MS
    print()
    print(f"{'PASS' if median_ok else 'FAIL'}  median render+seal <= {TARGET_MEDIAN_S} s")
    print(f"{'PASS' if stall_ok else 'FAIL'}  max loop stall <= {TARGET_STALL_MS:.0f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.agreements",
        description="Render + seal agreements through the worker pool; measure loop stalls.",
    )
    parser.add_argument("--count", type=int, default=20, help="agreements to produce (20)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--out", type=Path, default=None, help="keep the sealed PDFs here")
    parser.add_argument(
        "--baseline", type=float, default=1.0, help="seconds of ticking alone first (1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    result = asyncio.run(
        run(args.count, args.workers, keep=args.out is not None, baseline_s=args.baseline)
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for index, pdf in enumerate(result.pdfs, start=1):
            (args.out / f"agreement-{index:02d}.pdf").write_bytes(pdf)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
