"""Read rules files with line numbers, and collect located problems.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a
rule author's error can name FILE:LINE. Everything here is about *our* files, so it
is strict: duplicate keys and syntax errors are problems, never silently merged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from proxy.errors import Problem


class Report:
    """Collects the problems of one file; `rule` and `field` name where they are."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(
        self, line: int | None, message: str, rule: str | None = None, field: str | None = None
    ) -> None:
        self.problems.append(Problem(self.file, line, message, rule, field))


def load(path: Path, report: Report) -> Any:
    """Parse one YAML file; on failure add a located problem and return None."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        report.add(None, f"cannot read file: {e}")
        return None
    try:
        return yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        report.add(line, f"invalid YAML: {e.problem or e.context}")
    except YAMLError as e:
        report.add(None, f"invalid YAML: {e}")
    return None


def line_of(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key or list index inside `node`, or of `node` itself."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return int(lc.line) + 1
        if isinstance(key, int) and not isinstance(node, dict):
            return int(lc.item(key)[0]) + 1
        return int(lc.key(key)[0]) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return int(lc.line) + 1


def string_list(value: Any) -> list[str] | None:
    """A string or a list of strings, as a list; None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def required(
    entry: dict[str, Any], key: str, parse: Any, bad: Any, missing: str = "missing"
) -> Any:
    """`parse(entry[key])`, or None after `bad(key, message)` when it is absent or invalid."""
    if key not in entry:
        bad(key, missing)
        return None
    try:
        return parse(str(entry[key]))
    except ValueError as e:
        bad(key, str(e))
        return None


def unknown_keys(node: dict[str, Any], allowed: Iterable[str]) -> list[str]:
    allowed_set = set(allowed)
    return [str(k) for k in node if k not in allowed_set]
