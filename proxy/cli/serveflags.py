"""The commands' flags, made from the settings table (proxy.settings).

Each flag has an environment variable, so a container is configured without any;
its help, the variable and the default come from the table, and a command reads
the value back with `setting_value`, through the table's lookup.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from proxy import settings
from proxy.settings import BY_NAME, SETTINGS

SERVE = tuple(s.name for s in SETTINGS if s.name != "upstream")
"""The flags of `optout run` and `optout demo`; `run` also has --upstream."""


def add_setting_flag(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    name: str,
    *,
    flag: str | None = None,
    meaning: str | None = None,
) -> None:
    """The flag of one setting; `flag` and `meaning` for a command that words it otherwise."""
    setting = BY_NAME[name]
    text = settings.describe(setting, meaning)
    options: dict[str, Any] = {"dest": name, "help": text.replace("%", "%%")}
    if setting.const is not None:
        options.update(action="store_const", const=setting.const)
    elif setting.choices:
        options["choices"] = setting.choices
    else:
        options["metavar"] = setting.metavar
    parser.add_argument(flag or setting.flag, **options)


def add_rules_flag(parser: argparse.ArgumentParser) -> None:
    add_setting_flag(parser, "rules")


def add_serve_flags(parser: argparse.ArgumentParser, *, upstream: bool = False) -> None:
    for name in ("upstream", *SERVE) if upstream else SERVE:
        add_setting_flag(parser, name)


def setting_value(
    args: argparse.Namespace, name: str, environ: Mapping[str, str] | None = None
) -> Any:
    """A setting as a command reads it: its flag, else its variable, else its default."""
    return settings.value(name, vars(args), environ)
