"""Each numeric setting's bounds: the last value refused and the first accepted.

A lowered minimum would let `OPTOUT_LOG_KEEP=0` delete every rotated log, or a
tiny `OPTOUT_LOG_MAX_BYTES` rotate on every batch, so each bound is pinned here,
from the environment and from the flag.
"""

from __future__ import annotations

import re

import pytest

from proxy.errors import SettingsError
from proxy.settings import resolve

BASE = {"OPTOUT_UPSTREAM": "http://origin:8000"}


@pytest.mark.parametrize(
    ("var", "refused", "message"),
    [
        ("OPTOUT_LOG_KEEP", "0", "must be a whole number of at least 1, not '0'"),
        ("OPTOUT_LOG_KEEP", "-1", "must be a whole number of at least 1"),
        ("OPTOUT_LOG_KEEP", "2.5", "must be a whole number of at least 1"),
        ("OPTOUT_LOG_MAX_BYTES", "1023", "must be a whole number of at least 1024, not '1023'"),
        ("OPTOUT_IPRANGES_REFRESH", "59", "must be 0 (off) or at least 60 seconds"),
        ("OPTOUT_UPSTREAM_TIMEOUT", "0.09", "must be a number of seconds (0.1 or more)"),
        ("OPTOUT_SHUTDOWN_TIMEOUT", "-1", "must be a number of seconds (0 or more)"),
    ],
)
def test_a_value_under_the_minimum_is_refused_naming_the_variable(
    var: str, refused: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"{var} {message}")):
        resolve({}, {**BASE, var: refused})


@pytest.mark.parametrize(
    ("var", "field", "least"),
    [
        ("OPTOUT_LOG_KEEP", "log_keep", "1"),
        ("OPTOUT_LOG_MAX_BYTES", "log_max_bytes", "1024"),
        ("OPTOUT_IPRANGES_REFRESH", "ipranges_refresh", "60"),
        ("OPTOUT_IPRANGES_REFRESH", "ipranges_refresh", "0"),  # off
        ("OPTOUT_UPSTREAM_TIMEOUT", "upstream_timeout", "0.1"),
        ("OPTOUT_SHUTDOWN_TIMEOUT", "shutdown_timeout", "0"),
    ],
)
def test_the_minimum_itself_is_accepted(var: str, field: str, least: str) -> None:
    settings = resolve({}, {**BASE, var: least})
    assert getattr(settings, field) == type(getattr(settings, field))(least)


def test_the_flag_is_held_to_the_same_minimum() -> None:
    with pytest.raises(SettingsError, match="OPTOUT_LOG_KEEP must be a whole number of at least 1"):
        resolve({"log_keep": "0"}, BASE)
    assert resolve({"log_keep": "1"}, {**BASE, "OPTOUT_LOG_KEEP": "0"}).log_keep == 1


def test_the_defaults_are_inside_the_bounds() -> None:
    settings = resolve({}, BASE)
    assert (settings.log_keep, settings.log_max_bytes) == (30, 100 * 1024 * 1024)
