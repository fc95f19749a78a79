"""Settings from keyword arguments, CONCORD_* variables and a TOML file; the secret key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import SECRET_KEY_FILE, Config, load_config

LONG_SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CONCORD_* variable from the outside leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CONCORD_"):
            monkeypatch.delenv(name)
    # Recorded so that load_config(config_file=...) writing it is undone.
    monkeypatch.delenv("CONCORD_CONFIG", raising=False)
    yield


def test_defaults(tmp_path: Path) -> None:
    config = Config()
    assert config.data_dir == Path("var")
    assert config.database_url == ""
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.secret_key is None
    assert config.default_language == "zh"
    assert config.timezone == "Asia/Shanghai"
    assert config.cookie_secure is False
    assert config.session_hours == 12
    assert config.login_max_failures == 5
    assert config.effective_public_url == "http://127.0.0.1:8080"


def test_effective_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    assert config.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/concord.db"
    url = "postgresql+asyncpg://concord@localhost/concord"
    assert Config(database_url=url).effective_database_url == url


def test_public_url_trailing_slash() -> None:
    assert Config(public_url="https://concord.example/").effective_public_url == (
        "https://concord.example"
    )


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONCORD_PORT", "9090")
    monkeypatch.setenv("CONCORD_HOST", "0.0.0.0")
    monkeypatch.setenv("CONCORD_COOKIE_SECURE", "true")
    monkeypatch.setenv("CONCORD_DEFAULT_LANGUAGE", "en")
    monkeypatch.setenv("CONCORD_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("CONCORD_SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("CONCORD_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    config = Config()
    assert config.data_dir == tmp_path
    assert config.port == 9090
    assert config.host == "0.0.0.0"
    assert config.cookie_secure is True
    assert config.default_language == "en"
    assert config.login_max_failures == 3
    assert config.secret_key is not None
    assert config.secret_key.get_secret_value() == LONG_SECRET
    assert LONG_SECRET not in repr(config)
    assert config.database_url == "sqlite+aiosqlite:///x.db"


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("concord_port", "9191")
    assert Config().port == 9191


def test_keyword_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_PORT", "9090")
    assert Config(port=7070).port == 7070


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONCORD_PORT", "0"),
        ("CONCORD_PORT", "70000"),
        ("CONCORD_PORT", "http"),
        ("CONCORD_DEFAULT_LANGUAGE", "fr"),
        ("CONCORD_SESSION_HOURS", "0"),
        ("CONCORD_LOGIN_MAX_FAILURES", "0"),
    ],
)
def test_invalid_environment_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Config()


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ValidationError):
        Config(colour="blue")  # type: ignore[call-arg]


def write_toml(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def test_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = write_toml(
        tmp_path / "concord.toml",
        f'data_dir = "{tmp_path}"\nport = 8443\ntimezone = "Asia/Urumqi"\n'
        'public_url = "https://mediation.example.cn"\ncookie_secure = true\n',
    )
    monkeypatch.setenv("CONCORD_CONFIG", str(toml))
    config = Config()
    assert config.data_dir == tmp_path
    assert config.port == 8443
    assert config.timezone == "Asia/Urumqi"
    assert config.cookie_secure is True
    assert config.effective_public_url == "https://mediation.example.cn"


def test_environment_beats_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "concord.toml", 'port = 8443\nhost = "10.0.0.5"\n')
    monkeypatch.setenv("CONCORD_CONFIG", str(toml))
    monkeypatch.setenv("CONCORD_PORT", "9000")
    config = Config()
    assert config.port == 9000
    assert config.host == "10.0.0.5"
    assert Config(port=1234).port == 1234


def test_load_config_names_the_file(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "concord.toml", "session_hours = 8\n")
    config = load_config(str(toml))
    assert config.session_hours == 8
    assert load_config(str(toml), session_hours=2).session_hours == 2


def test_unknown_key_in_toml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "concord.toml", "colour = 'blue'\n")
    monkeypatch.setenv("CONCORD_CONFIG", str(toml))
    with pytest.raises(ValidationError):
        Config()


def test_bad_database_url_in_toml_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    toml = write_toml(tmp_path / "concord.toml", 'database_url = "mysql://root@db/concord"\n')
    monkeypatch.setenv("CONCORD_CONFIG", str(toml))
    with pytest.raises(ValidationError, match="database_url"):
        Config()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///concord.db",
        "postgresql://concord@localhost/concord",
        "postgresql+psycopg://concord@localhost/concord",
        "mysql+aiomysql://root@localhost/concord",
        "concord.db",
    ],
)
def test_bad_database_url_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url must start with"):
        Config(database_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "sqlite+aiosqlite:///var/concord.db",
        "postgresql+asyncpg://concord:pw@db:5432/concord",
    ],
)
def test_good_database_urls(url: str) -> None:
    assert Config(database_url=url).database_url == url


# --- the secret key -------------------------------------------------------


def test_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = Config(data_dir=data_dir)
    secret = config.secret()
    path = data_dir / SECRET_KEY_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32
    assert path.read_text().strip().encode() == secret
    # Reused by the same and by a new configuration: restarts keep data readable.
    assert config.secret() == secret
    assert Config(data_dir=data_dir).secret() == secret
    assert path.read_text().strip().encode() == secret


def test_each_installation_gets_its_own_secret(tmp_path: Path) -> None:
    first = Config(data_dir=tmp_path / "one").secret()
    second = Config(data_dir=tmp_path / "two").secret()
    assert first != second


def test_configured_secret_is_used_and_nothing_written(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, secret_key=LONG_SECRET)
    assert config.secret() == LONG_SECRET.encode()
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_configured_secret_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONCORD_SECRET_KEY", LONG_SECRET)
    assert Config(data_dir=tmp_path).secret() == LONG_SECRET.encode()


def test_short_secret_is_refused(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, secret_key="s" * 31)
    with pytest.raises(ValueError, match="at least 32"):
        config.secret()
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_existing_secret_file_is_read(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("kept-from-an-earlier-run-0123456789abcdef\n")
    assert Config(data_dir=tmp_path).secret() == b"kept-from-an-earlier-run-0123456789abcdef"


@pytest.mark.parametrize("content", ["", "\n", "short"])
def test_empty_or_short_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    # A file left empty by a crash between creating and writing it must not
    # silently become the key that encrypts every ID number.
    (tmp_path / SECRET_KEY_FILE).write_text(content)
    with pytest.raises(ValueError):
        Config(data_dir=tmp_path).secret()


def test_turn_needs_both_a_secret_and_urls(tmp_path: Path) -> None:
    urls = ["turn:turn.example.cn:3478?transport=udp"]
    secret = "x" * 40
    both = Config(data_dir=tmp_path, turn_secret=secret, turn_urls=urls)
    assert both.turn_enabled and both.turn_credential_minutes == 240
    assert not Config(data_dir=tmp_path).turn_enabled
    with pytest.raises(ValidationError, match="turn_secret is not"):
        Config(data_dir=tmp_path, turn_urls=urls)
    with pytest.raises(ValidationError, match="turn_urls is empty"):
        Config(data_dir=tmp_path, turn_secret=secret)
    with pytest.raises(ValidationError, match="not a TURN URL"):
        Config(data_dir=tmp_path, turn_secret=secret, turn_urls=["stun:x.cn"])
    with pytest.raises(ValidationError, match="at least 32"):
        Config(data_dir=tmp_path, turn_secret="short", turn_urls=urls)
    with pytest.raises(ValidationError, match="host name"):
        Config(data_dir=tmp_path, turn_realm="a b")
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        Config(data_dir=tmp_path, turn_credential_minutes=1)


def test_the_turn_realm_defaults_to_the_public_host(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, public_url="https://concord.example.cn")
    assert config.effective_turn_realm == "concord.example.cn"
    assert Config(data_dir=tmp_path, turn_realm="turn.x.cn").effective_turn_realm == "turn.x.cn"


def test_video_codec_preference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The codec a room's first joiner gets when they decode both (server/rooms/codecs.py)."""
    assert Config().video_codec == "vp8"
    monkeypatch.setenv("CONCORD_VIDEO_CODEC", "h264")
    assert Config().video_codec == "h264"
    with pytest.raises(ValidationError, match="video_codec"):
        Config(video_codec="av1")
