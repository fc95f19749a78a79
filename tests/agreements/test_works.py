"""AgreementWorks: rendering and sealing in a worker process, the loop stays free.

Each test that needs a worker starts its own pool (about 1-2 s: a fresh
interpreter, WeasyPrint and pyHanko imported, a warm-up render).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.agreements import Ticker
from server.agreements.document import POLICE
from server.agreements.pki import StationPki, create_station_pki
from server.agreements.render import IncompleteAgreement
from server.agreements.settings import SealerSettings, SealingNotConfigured
from server.agreements.works import AgreementWorks
from tests.agreements.pdf_support import document

STATION = "白石派出所"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("pki"), STATION)


@pytest.fixture
async def works(pki: StationPki) -> AsyncIterator[AgreementWorks]:
    settings = SealerSettings(
        key_path=pki.key_path, cert_path=pki.cert_path, chain_paths=(pki.ca_cert_path,)
    )
    works = AgreementWorks(settings)
    try:
        yield works
    finally:
        await works.close()


async def test_produce_and_verify_while_the_loop_keeps_ticking(
    works: AgreementWorks, pki: StationPki
) -> None:
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    try:
        await works.warm()
        ticks_before = ticker.ticks
        pdf = await works.produce(document(POLICE), reason="调解协议书电子印章", location=STATION)
        verdict = await works.verify(pdf, [pki.ca_cert_path])
        ticks_during = ticker.ticks - ticks_before
    finally:
        ticker.stop()
        await ticking
    assert pdf.startswith(b"%PDF-")
    assert verdict.valid, verdict.problems
    assert verdict.signer == STATION
    # Rendering takes ~0.3 s of CPU in the worker; the loop went on sleeping
    # 1 ms at a time meanwhile. Lenient bounds: the test machine may be busy
    # (bench.agreements measures the real figure against its 10 ms target).
    assert ticks_during > 50
    assert ticker.max_stall_s < 0.25


async def test_errors_from_the_worker_arrive_as_raised(works: AgreementWorks) -> None:
    incomplete = dataclasses.replace(document(POLICE), seal_image_png=None)
    with pytest.raises(IncompleteAgreement) as caught:
        await works.produce(incomplete, reason="r", location="l")
    assert caught.value.missing == ("seal_image",)
    assert str(caught.value) == "agreement is missing required elements: seal_image"
    verdict = await works.verify(b"not a pdf", [])
    assert verdict.problems == ("not_a_pdf",)


async def test_a_dead_worker_is_replaced_and_the_job_retried(
    works: AgreementWorks, pki: StationPki
) -> None:
    await works.warm()
    pool = works._pool
    assert pool is not None
    # ProcessPoolExecutor keeps its worker processes by pid (private, stable since 3.3).
    pids = list(pool._processes)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    pdf = await works.produce(document(POLICE), reason="r", location="l")
    assert (await works.verify(pdf, [pki.ca_cert_path])).valid
    assert works._pool is not pool


async def test_without_a_key_produce_refuses_and_starts_nothing() -> None:
    works = AgreementWorks(None)
    assert not works.sealing_configured
    with pytest.raises(SealingNotConfigured, match="no sealing key is configured"):
        await works.produce(document(POLICE), reason="r", location="l")
    assert works._pool is None
    await works.close()


async def test_a_broken_key_is_reported_by_the_worker(tmp_path: Path) -> None:
    works = AgreementWorks(
        SealerSettings(key_path=tmp_path / "missing-key.pem", cert_path=tmp_path / "cert.pem")
    )
    try:
        with pytest.raises(SealingNotConfigured, match="missing-key.pem does not exist"):
            await works.produce(document(POLICE), reason="r", location="l")
    finally:
        await works.close()


async def test_closed_means_closed() -> None:
    works = AgreementWorks(None)
    await works.close()
    await works.close()
    with pytest.raises(RuntimeError, match="closed"):
        await works.verify(b"", [])
    with pytest.raises(ValueError, match="workers"):
        AgreementWorks(None, workers=0)


# A server in miniature: it starts the PDF worker, says so in a file, and waits to be killed.
_SERVER = """
import asyncio, pathlib, sys
from server.agreements.works import AgreementWorks

async def main() -> None:
    works = AgreementWorks(None)
    await works.warm()
    pathlib.Path(sys.argv[1]).write_text("warm")
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found |= {child, *_descendants(child)}
    return found


def _gone(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
async def test_a_killed_server_leaves_no_pdf_worker_behind(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVER,
        str(ready),
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert server.returncode is None and time.monotonic() < deadline
            await asyncio.sleep(0.05)
        helpers = _descendants(server.pid)  # the forkserver and the worker, at least
        assert len(helpers) >= 2, helpers
        server.kill()
        await server.wait()
        deadline = time.monotonic() + 5
        while not all(_gone(pid) for pid in helpers):
            left = {pid for pid in helpers if not _gone(pid)}
            assert time.monotonic() < deadline, f"left behind after kill -9: {left}"
            await asyncio.sleep(0.05)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        for pid in helpers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_server_process_never_loads_the_pdf_libraries() -> None:
    """Serving imports neither WeasyPrint nor pyHanko: they load in the agreement worker,
    which renders the agreement, the 笔录 and the court application (tens of MB, and
    a second of start-up, that no process hosting rooms should carry)."""
    probe = (
        "import sys, server.app, server.cli; "
        "print(sorted(m for m in ('weasyprint', 'pyhanko') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
