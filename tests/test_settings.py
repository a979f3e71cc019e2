"""Flags win over environment variables, which win over defaults; bad values name both."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.settings import SettingsError, parse_listen, parse_upstream, resolve

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
