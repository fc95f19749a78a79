"""Internal endpoints: the media latency probe answers only when switched on, only locally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.app import create_app
from server.config import Config
from server.rooms import latency
from tests.conftest import AiohttpClient, Seed


@pytest.fixture
def probe_off_afterwards() -> Iterator[None]:
    """The probe is process-wide: leave it as other tests expect it (off, empty)."""
    yield
    latency.PROBE.disable()
    latency.PROBE.snapshot(reset=True)


async def test_the_probe_is_not_there_unless_switched_on(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> None:
    client = await aiohttp_client(create_app(config))
    response = await client.get("/_internal/media/latency")
    assert response.status == 404


async def test_the_probe_reports_and_resets(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, probe_off_afterwards: None
) -> None:
    config.media_latency_probe = True
    client = await aiohttp_client(create_app(config))
    latency.PROBE.record(0, 2_000_000)
    latency.PROBE.record(0, 4_000_000)
    first = await (await client.get("/_internal/media/latency?reset=1")).json()
    assert first["packets"] == 2
    assert first["max_ms"] == pytest.approx(4.0)
    second = await (await client.get("/_internal/media/latency")).json()
    assert second == {"packets": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
