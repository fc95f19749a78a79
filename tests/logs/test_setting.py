"""The ``log_format`` setting and ``concord serve --log-format``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.cli import build_parser
from server.config import Config


def test_human_by_default_json_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().log_format == "human"
    monkeypatch.setenv("CONCORD_LOG_FORMAT", "json")
    assert Config().log_format == "json"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="log_format"):
        Config(log_format="xml")


def test_the_serve_flag_takes_the_two_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["serve", "--log-format", "json"]).log_format == "json"
    assert build_parser().parse_args(["serve"]).log_format is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--log-format", "xml"])
    assert "invalid choice" in capsys.readouterr().err
