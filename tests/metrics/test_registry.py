"""Each app has its own registry: two apps in one process never share a figure."""

from __future__ import annotations

from server.metrics import AppMetrics
from tests.metrics.scrape import Scrape


def test_two_apps_count_apart() -> None:
    one = AppMetrics(rooms=lambda: None, engine=lambda: None)
    other = AppMetrics(rooms=lambda: None, engine=lambda: None)
    one.join_seconds.observe(0.8)
    one.pdf_step("minutes", "render", 0.3)
    first, second = Scrape(one.render().decode()), Scrape(other.render().decode())
    assert first.value("concord_join_seconds_count") == 1
    assert first.value("concord_join_seconds_bucket", le="1.0") == 1
    assert first.value("concord_join_seconds_bucket", le="0.5") == 0
    assert first.value("concord_pdf_render_seconds_count", document="minutes") == 1
    assert second.value("concord_join_seconds_count") == 0
    assert second.get("concord_pdf_render_seconds_count", -1, document="minutes") == -1
    # Not prometheus-client's global registry: no process_* or python_* collectors.
    assert not any(name.startswith(("process_", "python_")) for name, _ in first.samples)
