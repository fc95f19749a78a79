"""AgreementWorks tells its observer how long each PDF job and its steps took."""

from __future__ import annotations

import pytest

from server.agreements.document import POLICE
from server.agreements.pki import StationPki
from server.agreements.works import AgreementWorks
from server.metrics import AppMetrics
from tests.agreements.pdf_support import document
from tests.agreements.test_works import STATION, pki, works  # noqa: F401  (fixtures)
from tests.metrics.scrape import Scrape


async def test_render_seal_and_job_times_reach_the_histograms(
    works: AgreementWorks,  # noqa: F811
    pki: StationPki,  # noqa: F811
) -> None:
    seen: list[tuple[str, str, float]] = []
    metrics = AppMetrics(rooms=lambda: None, engine=lambda: None)

    def observe(document_kind: str, step: str, seconds: float) -> None:
        seen.append((document_kind, step, seconds))
        metrics.pdf_step(document_kind, step, seconds)

    works.observer = observe
    pdf = await works.produce(document(POLICE), reason="调解协议书电子印章", location=STATION)
    await works.verify(pdf, [pki.ca_cert_path])
    steps = {(kind, step): seconds for kind, step, seconds in seen}
    assert set(steps) == {
        ("agreement", "render"),
        ("agreement", "seal"),
        ("agreement", "job"),
        ("verify", "job"),
    }
    assert all(seconds > 0 for seconds in steps.values())
    # Awaited, the job took at least the worker's own render and seal.
    assert (
        steps[("agreement", "job")] >= steps[("agreement", "render")] + steps[("agreement", "seal")]
    )
    scraped = Scrape(metrics.render().decode())
    for step in ("render", "seal", "job"):
        assert scraped.value(f"concord_pdf_{step}_seconds_count", document="agreement") == 1
    assert scraped.value("concord_pdf_job_seconds_count", document="verify") == 1
    assert scraped.value("concord_pdf_render_seconds_sum", document="agreement") == pytest.approx(
        steps[("agreement", "render")]
    )
