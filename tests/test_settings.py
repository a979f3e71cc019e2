"""Flags win over environment variables, which win over defaults; bad values name both."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.errors import SettingsError
from proxy.settings import parse_listen, parse_upstream, resolve

NO_FLAGS: dict[str, str | None] = {}


def test_defaults() -> None:
    settings = resolve(NO_FLAGS, {"OPTOUT_UPSTREAM": "http://origin:8000"})
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.rules == Path("rules")
    assert settings.log == "-"
    assert settings.state == Path("state")
    assert settings.upstream == "http://origin:8000"


def test_flags_win_over_environment() -> None:
    env = {"OPTOUT_UPSTREAM": "http://env", "OPTOUT_LISTEN": "0.0.0.0:9000", "OPTOUT_LOG": "e"}
    settings = resolve({"upstream": "https://flag:8443/", "log": "f.log"}, env)
    assert settings.upstream == "https://flag:8443"
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9000)
    assert settings.log == "f.log"


def test_missing_upstream() -> None:
    with pytest.raises(SettingsError, match="--upstream URL or set OPTOUT_UPSTREAM"):
        resolve(NO_FLAGS, {})


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("origin:8000", "must be http"),
        ("ftp://origin", "must be http"),
        ("http://origin/app", "must not have a path"),
        ("http://origin:99999", "Port out of range"),
    ],
)
def test_bad_upstream(value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        parse_upstream(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("8081", ("127.0.0.1", 8081)),
        (":0", ("127.0.0.1", 0)),
    ],
)
def test_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["host:http", "host:70000", "host:"])
def test_bad_listen(value: str) -> None:
    with pytest.raises(SettingsError, match="OPTOUT_LISTEN"):
        parse_listen(value)


def test_verification_settings() -> None:
    env = {
        "OPTOUT_UPSTREAM": "http://origin",
        "OPTOUT_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
        "OPTOUT_VERIFY_DNS": "off",
        "OPTOUT_IPRANGES_REFRESH": "86400",
    }
    settings = resolve({"web_bot_auth": "off"}, env)
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert settings.verify_dns is False
    assert settings.web_bot_auth is False
    assert settings.ipranges_refresh == 86400
    defaults = resolve(NO_FLAGS, {"OPTOUT_UPSTREAM": "http://origin"})
    assert defaults.trusted_proxies == ()
    assert (defaults.verify_dns, defaults.web_bot_auth, defaults.ipranges_refresh) == (
        True,
        True,
        0,
    )


@pytest.mark.parametrize(
    ("var", "value", "error"),
    [
        ("OPTOUT_TRUSTED_PROXIES", "10.0.0.0/33", "OPTOUT_TRUSTED_PROXIES"),
        ("OPTOUT_VERIFY_DNS", "maybe", "OPTOUT_VERIFY_DNS must be on or off"),
        ("OPTOUT_IPRANGES_REFRESH", "5", "at least 60 seconds"),
        ("OPTOUT_IPRANGES_REFRESH", "daily", "whole number of seconds"),
    ],
)
def test_bad_verification_settings(var: str, value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        resolve(NO_FLAGS, {"OPTOUT_UPSTREAM": "http://origin", var: value})


def test_operations_defaults() -> None:
    settings = resolve(NO_FLAGS, {"OPTOUT_UPSTREAM": "http://origin"})
    assert settings.admin == ("127.0.0.1", 9090)
    assert settings.admin_token is None
    assert settings.shadow is False
    assert settings.shutdown_timeout == 10.0
    assert (settings.log_format, settings.log_level) == ("text", "info")


def test_operations_settings(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file\n")
    env = {
        "OPTOUT_UPSTREAM": "http://origin",
        "OPTOUT_ADMIN": "0.0.0.0:9100",
        "OPTOUT_ADMIN_TOKEN": "from-the-environment",
        "OPTOUT_SHADOW": "on",
        "OPTOUT_SHUTDOWN_TIMEOUT": "2.5",
        "OPTOUT_LOG_FORMAT": "JSON",
        "OPTOUT_LOG_LEVEL": "warning",
    }
    settings = resolve({"admin_token_file": str(token_file)}, env)
    assert settings.admin == ("0.0.0.0", 9100)
    assert settings.admin_token == "from-the-file"  # the file wins over the variable
    assert "from-the-file" not in repr(settings)
    assert settings.shadow is True
    assert settings.shutdown_timeout == 2.5
    assert (settings.log_format, settings.log_level) == ("json", "warning")
    assert resolve(NO_FLAGS, env).admin_token == "from-the-environment"
    assert resolve({"admin": "off", "shadow": "on"}, {"OPTOUT_UPSTREAM": "http://o"}).admin is None


@pytest.mark.parametrize(
    ("var", "value", "error"),
    [
        ("OPTOUT_ADMIN", "nowhere", "admin address 'nowhere' \\(--admin / OPTOUT_ADMIN\\)"),
        ("OPTOUT_SHADOW", "perhaps", "OPTOUT_SHADOW must be on or off"),
        ("OPTOUT_SHUTDOWN_TIMEOUT", "-1", "OPTOUT_SHUTDOWN_TIMEOUT must be a number of seconds"),
        ("OPTOUT_SHUTDOWN_TIMEOUT", "soon", "OPTOUT_SHUTDOWN_TIMEOUT must be a number of seconds"),
        ("OPTOUT_SHUTDOWN_TIMEOUT", "inf", "OPTOUT_SHUTDOWN_TIMEOUT must be a number of seconds"),
        ("OPTOUT_LOG_FORMAT", "xml", "OPTOUT_LOG_FORMAT must be one of text, json"),
        ("OPTOUT_LOG_LEVEL", "loud", "OPTOUT_LOG_LEVEL must be one of debug, info"),
        ("OPTOUT_ADMIN_TOKEN_FILE", "/nonexistent/token", "cannot read the admin token file"),
    ],
)
def test_bad_operations_settings(var: str, value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        resolve(NO_FLAGS, {"OPTOUT_UPSTREAM": "http://origin", var: value})


def test_an_empty_token_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        resolve({"admin_token_file": str(tmp_path / "token")}, {"OPTOUT_UPSTREAM": "http://o"})
