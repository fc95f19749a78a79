"""The media UDP port range settings: media_port_min and media_port_max, checked together."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import Config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CONCORD_* variable from the outside leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CONCORD_"):
            monkeypatch.delenv(name)
    yield


def test_no_range_by_default() -> None:
    config = Config()
    assert (config.media_port_min, config.media_port_max) == (None, None)
    assert config.media_ports is None


@pytest.mark.parametrize(
    ("low", "high"), [(40000, 40999), (1024, 65535), (50000, 50000), (10000, 10001)]
)
def test_a_range(low: int, high: int) -> None:
    assert Config(media_port_min=low, media_port_max=high).media_ports == (low, high)


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_MEDIA_PORT_MIN", "40000")
    monkeypatch.setenv("CONCORD_MEDIA_PORT_MAX", "40999")
    assert Config().media_ports == (40000, 40999)


def test_from_a_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "concord.toml"
    toml.write_text("media_port_min = 42000\nmedia_port_max = 42099\n", encoding="utf-8")
    monkeypatch.setenv("CONCORD_CONFIG", str(toml))
    assert Config().media_ports == (42000, 42099)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"media_port_min": 40000}, "set both or neither"),
        ({"media_port_max": 40999}, "set both or neither"),
        ({"media_port_min": 41000, "media_port_max": 40000}, "is above media_port_max=40000"),
        ({"media_port_min": 1023, "media_port_max": 2000}, "media_port_min=1023 is outside"),
        ({"media_port_min": 0, "media_port_max": 2000}, "media_port_min=0 is outside"),
        ({"media_port_min": 60000, "media_port_max": 65536}, "media_port_max=65536 is outside"),
        ({"media_port_min": -5, "media_port_max": -1}, "media_port_min=-5 is outside"),
    ],
)
def test_a_bad_range_says_what_is_wrong(settings: dict[str, int], words: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Config(**settings)  # type: ignore[arg-type]
    assert words in str(raised.value)


def test_a_bad_range_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_MEDIA_PORT_MIN", "40000")
    with pytest.raises(ValidationError, match="set both or neither"):
        Config()
    monkeypatch.setenv("CONCORD_MEDIA_PORT_MAX", "forty thousand")
    with pytest.raises(ValidationError, match="media_port_max"):
        Config()


def test_concord_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    """As an operator sees it: `concord serve` with half a range stops at once, exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env |= {"CONCORD_DATA_DIR": str(tmp_path / "data"), "CONCORD_MEDIA_PORT_MIN": "40000"}
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result
    assert result.stderr.splitlines() == [
        "concord: the settings are not valid:",
        "  media_port_min and media_port_max go together: set both or neither "
        "(media_port_min=40000, media_port_max=None)",
    ]
    assert not (tmp_path / "data").exists()  # stopped before touching anything
