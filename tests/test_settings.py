"""Flags win over environment variables, which win over defaults; bad values name both."""

from __future__ import annotations

import argparse
import dataclasses
import re
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from paths import ROOT

from proxy.cli.main import _parser
from proxy.errors import SettingsError
from proxy.settings import (
    BY_NAME,
    SETTINGS,
    Settings,
    describe,
    lookup,
    parse_listen,
    parse_upstream,
    resolve,
    value,
)

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


# The table: one declaration per setting gives its flag, variable, default, help and field.

UPSTREAM = {"OPTOUT_UPSTREAM": "http://origin"}


def test_every_settings_field_comes_from_exactly_one_setting() -> None:
    filled = [target for setting in SETTINGS for target in setting.targets]
    assert sorted(filled) == sorted(f.name for f in dataclasses.fields(Settings))
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_settings_made_in_code_have_the_tables_defaults() -> None:
    made = Settings("http://o", "127.0.0.1", 8080, Path("rules"), "-", Path("state"))
    resolved = resolve(NO_FLAGS, UPSTREAM)
    different = {
        f.name
        for f in dataclasses.fields(Settings)
        if getattr(made, f.name) != getattr(resolved, f.name)
    }
    assert different == {"upstream", "admin"}  # admin: off unless a command asks for it
    assert made.admin is None


@pytest.mark.parametrize(
    ("name", "text", "field", "expected"),
    [
        ("listen", "0.0.0.0:9000", "listen_port", 9000),
        ("tls", "127.0.0.1:8443", "tls_listen", ("127.0.0.1", 8443)),
        ("rules", "elsewhere", "rules", Path("elsewhere")),
        ("log", "access.jsonl", "log", "access.jsonl"),
        ("state", "/var/lib/optout", "state", Path("/var/lib/optout")),
        ("trusted_proxies", "10.0.0.0/8", "trusted_proxies", (IPv4Network("10.0.0.0/8"),)),
        ("verify_dns", "off", "verify_dns", False),
        ("web_bot_auth", "off", "web_bot_auth", False),
        ("ipranges_refresh", "3600", "ipranges_refresh", 3600),
        ("admin", "off", "admin", None),
        ("shadow", "on", "shadow", True),
        ("shutdown_timeout", "2.5", "shutdown_timeout", 2.5),
        ("upstream_timeout", "5", "upstream_timeout", 5.0),
        ("max_body", "512k", "max_body", "512k"),
        ("log_format", "json", "log_format", "json"),
        ("log_level", "debug", "log_level", "debug"),
        ("log_privacy", "all", "log_privacy", "all"),
        ("log_max_bytes", "2048", "log_max_bytes", 2048),
        ("log_keep", "3", "log_keep", 3),
    ],
)
def test_a_flag_and_its_variable_set_the_same_field(
    name: str, text: str, field: str, expected: object
) -> None:
    setting = BY_NAME[name]
    argv = [setting.flag] if setting.const is not None else [setting.flag, text]
    args = _parser().parse_args(["run", "--upstream", "http://origin", *argv])
    assert getattr(resolve(vars(args), {}), field) == expected
    assert getattr(resolve(NO_FLAGS, {**UPSTREAM, setting.env: text}), field) == expected
    assert getattr(resolve(NO_FLAGS, UPSTREAM), field) != expected


def test_secrets_come_from_a_file_flag_or_variable(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 32 + "\n")
    args = _parser().parse_args(["run", "--upstream", "http://o", "--log-hmac-key-file", str(key)])
    assert resolve(vars(args), {}).log_hmac_key == b"k" * 32
    from_file_var = {**UPSTREAM, "OPTOUT_LOG_HMAC_KEY_FILE": str(key)}
    assert resolve(NO_FLAGS, from_file_var).log_hmac_key == b"k" * 32
    itself = {**UPSTREAM, "OPTOUT_LOG_HMAC_KEY": "v" * 16}
    assert resolve(NO_FLAGS, itself).log_hmac_key == b"v" * 16
    assert resolve(NO_FLAGS, UPSTREAM).log_hmac_key is None


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("upstream", "ftp://origin"),
        ("tls", "nowhere:port"),
        ("listen", "host:"),
        ("trusted_proxies", "10.0.0.0/33"),
        ("verify_dns", "maybe"),
        ("web_bot_auth", "maybe"),
        ("ipranges_refresh", "5"),
        ("admin", "nowhere"),
        ("admin_token_file", "/nonexistent/token"),
        ("shadow", "perhaps"),
        ("shutdown_timeout", "-1"),
        ("upstream_timeout", "0"),
        ("max_body", "lots"),
        ("log_format", "xml"),
        ("log_level", "loud"),
        ("log_privacy", "some"),
        ("log_max_bytes", "10"),
        ("log_keep", "0"),
    ],
)
def test_a_bad_value_names_the_flag_and_the_variable(name: str, bad: str) -> None:
    setting = BY_NAME[name]
    with pytest.raises(SettingsError) as raised:
        resolve(NO_FLAGS, {**UPSTREAM, setting.env: bad})
    assert f"{setting.flag} / {setting.env}" in str(raised.value)


def test_the_tls_listener_must_differ_from_the_plain_one() -> None:
    same = {**UPSTREAM, "OPTOUT_LISTEN": "127.0.0.1:8443", "OPTOUT_TLS_LISTEN": "127.0.0.1:8443"}
    with pytest.raises(SettingsError, match="must differ from the plain listener"):
        resolve(NO_FLAGS, same)


def test_help_names_each_variable_and_says_each_default_once() -> None:
    run = next(
        action.choices["run"]
        for action in _parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    text = " ".join(run.format_help().split())
    for setting in SETTINGS:
        assert "default" not in setting.help, setting.name  # describe() adds it
        described = " ".join(describe(setting).split())
        assert described in text
        assert f"env {setting.env}" in described
        if setting.default:
            assert described.count("default") == 1
            assert described.endswith(f", default {setting.default})")


def test_lookup_takes_the_flag_then_the_variable_then_the_default() -> None:
    env = {"OPTOUT_STATE": "from-env", "OPTOUT_RULES": ""}
    assert lookup("state", {"state": "from-flag"}, env) == "from-flag"
    assert lookup("state", {"state": None}, env) == "from-env"
    assert lookup("rules", {}, env) == "rules"  # an empty variable is unset
    assert lookup("log", {}, {}, default="logs/access.jsonl") == "logs/access.jsonl"
    assert lookup("upstream", {}, {}) is None
    assert value("state", {}, env) == Path("from-env")


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "proxy").rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))
    }
    assert readers == {"proxy/settings.py"}
