"""Rendering, sealing and verifying off the event loop, in a worker process.

WeasyPrint spends a few hundred milliseconds of CPU per agreement and holds
the GIL while doing it, so neither the event loop nor a thread will do: the
video rooms on the same loop would stall. ``AgreementWorks`` keeps a small
process pool (one worker by default, the machine has two cores and the
media needs one) and awaits its results.

The worker is started lazily, from a ``forkserver`` (never ``fork``: forking
a process that runs an asyncio loop and aiortc threads copies their locks in
whatever state they are in). Its initializer loads the station's key once and
renders, seals and verifies a tiny agreement so that fonts, templates and
pyHanko are warm before the first real job. If the worker dies (out of
memory, a crash in a C library), the pool is replaced once and the job
retried. A worker ends with the server however the server ends, kill -9
included: a thread in it watches the server process.

Everything the worker runs is a module-level function so it pickles by name.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from server.agreements.document import (
    PEOPLE,
    AgreementDocument,
    EvidenceRow,
    PersonBlock,
    SignatureMark,
)
from server.agreements.settings import SealerSettings, SealingNotConfigured
from server.agreements.verdict import PdfVerdict
from server.processes import is_alive

if TYPE_CHECKING:
    from server.agreements.seal import Sealer
    from server.judicial.application import ApplicationDocument
    from server.minutes.paper import MinutesPaper

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Told (document, step, seconds) for each step of each job: "render" and "seal" as
#: the worker measured them (its CPU work alone), "job" as the server awaited it
#: (waiting for a free worker and the trip there and back included).
TimingObserver = Callable[[str, str, float], None]


class Timed(NamedTuple):
    """A worker's PDF with the seconds its rendering and its sealing took there."""

    pdf: bytes
    render_seconds: float
    seal_seconds: float


#: Added to the worker's nice value (lower priority than the server process).
WORKER_NICENESS = 5
#: How often a worker checks that the server is still there, where it cannot be told.
PARENT_POLL_SECONDS = 1.0

# --- in the worker process ------------------------------------------------

_settings: SealerSettings | None = None
_sealer: Sealer | None = None


def _watch_server(server: int, parent: int) -> None:
    """Exit the moment the server process ends (a pidfd on Linux; a poll elsewhere)."""
    try:
        pidfd = os.pidfd_open(server)
    except (AttributeError, OSError):  # not Linux 5.3+, or the server is already gone
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])  # readable once the server has exited
    else:
        while os.getppid() == parent and is_alive(server):
            time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _die_with_server(server: int) -> None:
    """Never outlive the server: a killed server must not leave PDF workers behind.

    A parent-death signal (prctl PR_SET_PDEATHSIG) would not do: the worker's
    parent is the forkserver, and the forkserver stays alive as long as its
    children hold their end of its pipe, so nothing would ever fire. The
    worker watches the server itself instead, from a daemon thread.
    """
    threading.Thread(
        target=_watch_server, args=(server, os.getppid()), name="watch-server", daemon=True
    ).start()


def _init_worker(settings: SealerSettings | None, server: int) -> None:
    """Tie the worker's life to the server's, load the sealing key, warm every code path.

    Must not raise: an exception here breaks the whole pool. A sealing
    problem is remembered instead and raised by the jobs that need the seal
    (``_sealer_or_raise`` tries again, so fixing the key file is enough).
    """
    global _settings, _sealer
    _die_with_server(server)
    # The PDF libraries live here only: the server process never imports them
    # (they would add tens of megabytes to every process hosting rooms).
    from server.agreements.render import render_pdf
    from server.agreements.seal import Sealer
    from server.agreements.verify import verify_pdf

    # Ctrl-C in a terminal reaches the whole process group; the parent shuts
    # the pool down, the worker should not die with a traceback mid-job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # An agreement can wait a moment; the media on the event loop cannot. When
    # the two cores are contended, the scheduler should favour the server.
    os.nice(WORKER_NICENESS)
    _settings = settings
    if settings is not None:
        try:
            _sealer = Sealer.from_settings(settings)
        except SealingNotConfigured as exc:
            log.error("The agreement worker cannot seal: %s", exc)
    try:
        pdf = render_pdf(warmup_document())
        if _sealer is not None:
            pdf = _sealer.seal(pdf, reason="warm-up", location="warm-up")
        # The seal's own certificate as the anchor: the check passes quietly
        # (an unknown root would make pyHanko log a path-building traceback).
        verify_pdf(pdf, [_sealer.certificate] if _sealer is not None else [])
    except Exception:
        log.exception("Warming up the agreement worker failed; the first job will be slow")


def _sealer_or_raise() -> Sealer:
    from server.agreements.seal import Sealer

    global _sealer
    if _sealer is None:
        _sealer = Sealer.from_settings(_settings)
    return _sealer


def _produce(doc: AgreementDocument, reason: str, location: str) -> Timed:
    from server.agreements.render import render_pdf

    sealer = _sealer_or_raise()
    started = time.perf_counter()
    pdf = render_pdf(doc)
    rendered = time.perf_counter()
    sealed = sealer.seal(pdf, reason=reason, location=location)
    return Timed(sealed, rendered - started, time.perf_counter() - rendered)


def _produce_minutes(paper: MinutesPaper) -> Timed:
    # make_pdf's two steps, each timed.
    from server.minutes.paper import render_pdf

    sealer = _sealer_or_raise()
    started = time.perf_counter()
    pdf = render_pdf(paper)
    rendered = time.perf_counter()
    sealed = bytes(sealer.seal(pdf, reason=paper.pdf_title, location=paper.station_name))
    return Timed(sealed, rendered - started, time.perf_counter() - rendered)


def _render_court_application(doc: ApplicationDocument) -> Timed:
    from server.judicial.render import render_pdf

    started = time.perf_counter()
    pdf = render_pdf(doc)
    return Timed(pdf, time.perf_counter() - started, 0.0)


def _verify(data: bytes, trust_roots: list[Path]) -> PdfVerdict:
    from server.agreements.verify import verify_pdf

    return verify_pdf(data, trust_roots)


def _ready() -> bool:
    """A job that does nothing: awaiting it means a worker has run its initializer."""
    return True


def warmup_document() -> AgreementDocument:
    """A complete, tiny agreement that goes through every template block and font."""
    from datetime import date

    from PIL import Image

    from server.agreements.rules import TextHeader, signed_text
    from server.agreements.schemas import DraftContent

    buffer = io.BytesIO()
    Image.new("RGBA", (4, 2), (0, 0, 0, 255)).save(buffer, format="PNG")
    png = buffer.getvalue()
    header = TextHeader(
        track=PEOPLE,
        mediating_body="预热人民调解委员会",
        presiding_name="甲",
        others_present=("乙（观察员）",),
        session_time="2026年1月1日 09:00—10:00",
        session_place="远程视频调解",
        parties=(
            PersonBlock(
                role_label="申请人",
                name="丙",
                id_label="居民身份证",
                id_number="110101199001010000",
                address="预热路",
            ),
        ),
        copies=2,
    )
    content = DraftContent(
        facts="事实。",
        disputed_matters="争议。",
        responsibility="责任。",
        terms=("条款。",),
        performance_manner="转账",
        performance_deadline=date(2026, 1, 2),
    )
    body = signed_text(header, content)
    digest = hashlib.sha256(body.plain.encode("utf-8")).hexdigest()
    return AgreementDocument(
        track=PEOPLE,
        title=body.title,
        case_number="（2026）预热调字第0001号",
        version=2,
        correction_reason="预热",
        station_name="预热派出所",
        station_address="预热路1号",
        station_phone="0000",
        mediating_body=header.mediating_body,
        office_name="预热警务室",
        presiding_label="调解员",
        presiding_name="甲",
        dispute_reference="W-1",
        body=body,
        signatures=(
            SignatureMark(role_label="调解员", name="甲", signed_at="2026年1月1日", image_png=png),
        ),
        sealed_on="2026年1月1日",
        sealed_at_iso="2026-01-01T10:00:00+08:00",
        seal_image_png=png,
        seal_is_sample=True,
        text_sha256=digest,
        canonical_text=body.plain,
        verify_url="https://example.invalid/v/0",
        evidence=(
            EvidenceRow(
                role_label="调解员",
                name="甲",
                outcome="已签名",
                at="2026-01-01 10:00:00 +08:00",
                ip="127.0.0.1",
                user_agent="warm-up",
                via="工作人员登录",
                text_sha256=digest,
                image_sha256=digest,
                audit_ref="#0",
            ),
        ),
    )


# --- in the server process ------------------------------------------------


def _mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where the platform has it (Linux), spawn elsewhere; never fork."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


class AgreementWorks:
    """The async face of rendering + sealing + verifying.

    ``settings`` None means the station configured no seal: ``produce``
    raises ``SealingNotConfigured`` without starting a worker, ``verify``
    still works. One instance per application; ``close()`` on shutdown.
    """

    def __init__(self, settings: SealerSettings | None, *, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._settings = settings
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        #: Told how long each job and its steps took (the app's metrics set it).
        self.observer: TimingObserver | None = None

    @property
    def sealing_configured(self) -> bool:
        return self._settings is not None

    async def warm(self) -> None:
        """Start the workers now and wait until they are warm (about 1-2 s).

        Optional: the first ``produce`` or ``verify`` starts them anyway, it
        just takes that much longer. Call it in the background at startup.
        """
        await asyncio.gather(*(self._run(_ready) for _ in range(self._workers)))

    async def produce(self, doc: AgreementDocument, *, reason: str, location: str) -> bytes:
        """Render ``doc`` and seal it; returns the sealed PDF's bytes.

        Raises ``SealingNotConfigured`` when there is no usable key,
        ``render.IncompleteAgreement`` when the document lacks a required
        element; both come back from the worker as they were raised there.
        """
        if self._settings is None:
            raise SealingNotConfigured(
                "Agreements cannot be sealed: no sealing key is configured "
                "(set seal_key_path and seal_cert_path)."
            )
        return self._observed(
            "agreement", await self._timed("agreement", _produce, doc, reason, location)
        )

    async def produce_minutes(self, paper: MinutesPaper) -> bytes:
        """The 调解笔录 rendered and sealed (``server.minutes.paper``); as ``produce``,
        ``SealingNotConfigured`` when there is no usable key."""
        if self._settings is None:
            raise SealingNotConfigured(
                "Minutes cannot be sealed: no sealing key is configured "
                "(set seal_key_path and seal_cert_path)."
            )
        return self._observed("minutes", await self._timed("minutes", _produce_minutes, paper))

    async def render_court_application(self, doc: ApplicationDocument) -> bytes:
        """The 司法确认 application (``server.judicial.render``); not sealed, so no key needed."""
        timed = await self._timed("court_application", _render_court_application, doc)
        return self._observed("court_application", timed, sealed=False)

    async def verify(self, data: bytes, trust_roots: list[Path]) -> PdfVerdict:
        """``verify_pdf`` in the worker (validation is CPU work too)."""
        return await self._timed("verify", _verify, data, list(trust_roots))

    async def close(self) -> None:
        """Stop the workers, letting running jobs finish; idempotent."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _timed(self, document: str, fn: Callable[..., T], *args: object) -> T:
        """``_run``, its time (as awaited here) told to the observer when the job succeeded."""
        started = time.perf_counter()
        result = await self._run(fn, *args)
        if self.observer is not None:
            self.observer(document, "job", time.perf_counter() - started)
        return result

    def _observed(self, document: str, timed: Timed, *, sealed: bool = True) -> bytes:
        """The worker's PDF; its render (and seal) times told to the observer."""
        if self.observer is not None:
            self.observer(document, "render", timed.render_seconds)
            if sealed:
                self.observer(document, "seal", timed.seal_seconds)
        return timed.pdf

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        pool = self._ensure_pool()
        try:
            return await self._submit(pool, fn, *args)
        except BrokenProcessPool:
            log.warning("The agreement worker died; starting a new one and retrying once")
            self._discard(pool)
            return await self._submit(self._ensure_pool(), fn, *args)

    @staticmethod
    async def _submit(pool: ProcessPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        """Submit from a thread: ``submit`` starts worker processes when the pool
        has none idle (and the forkserver itself the first time), tens of
        milliseconds the event loop should not spend."""
        future = await asyncio.to_thread(pool.submit, fn, *args)
        return await asyncio.wrap_future(future)

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("AgreementWorks is closed")
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=_mp_context(),
                initializer=_init_worker,
                initargs=(self._settings, os.getpid()),
            )
        return self._pool

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool, unless a concurrent job already replaced it."""
        if self._pool is broken:
            self._pool = None
        # A broken pool has no live workers: this returns at once.
        broken.shutdown(wait=False, cancel_futures=True)
