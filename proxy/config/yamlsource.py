"""Read rules files with line numbers, and collect located problems.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a
rule author's error can name FILE:LINE. Everything here is about *our* files, so it
is strict: duplicate keys and syntax errors are problems, never silently merged.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

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
    except DuplicateKeyError as e:
        line = e.problem_mark.line + 1 if e.problem_mark is not None else None
        report.add(line, "invalid YAML: " + _duplicate_key(text, e))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        hint = ""
        if "chomping" in str(e.problem):  # `score: >= 3`: YAML reads '>' as a folded block
            hint = "; a value starting with '>' needs quotes, such as score: \">= 3\""
        report.add(line, f"invalid YAML: {e.problem or e.context}{hint}")
    except YAMLError as e:
        report.add(None, f"invalid YAML: {e}")
    return None


def _duplicate_key(text: str, error: DuplicateKeyError) -> str:
    """`duplicate key 'rules' (first at line 12)`: ruamel's message quotes both values whole."""
    where = error.problem_mark
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError:
        root = None
    for mapping in _mappings(root):
        keys = [k for k, _ in mapping.value]
        dup = next((k for k in keys if k.start_mark.index == where.index), None) if where else None
        if dup is None:
            continue
        first = next(k for k in keys if k.tag == dup.tag and k.value == dup.value)
        shown = str(dup.value) if isinstance(dup.value, str) else "(a complex key)"
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        return f"duplicate key {shown!r} (first at line {first.start_mark.line + 1})"
    return "duplicate key"


def _mappings(node: Node | None) -> Iterable[MappingNode]:
    """Every mapping node under `node`, depth first."""
    stack = [node] if node is not None else []
    seen: set[int] = set()  # an alias is the same node again (and may hold itself)
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MappingNode):
            yield current
            stack.extend(n for pair in current.value for n in pair)
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)


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


def unknown_key(key: str, allowed: Iterable[str], what: str | None = None) -> str:
    """`unknown key 'acton'; did you mean 'action'?`, then `(a rule has …)` when `what` says."""
    choices = [str(a) for a in allowed]
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    message = f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
    if what:
        listed = f"{what} has {', '.join(choices)}"
        message += f" ({listed})" if close else f"; {listed}"
    return message


def unknown_keys(node: dict[str, Any], allowed: Iterable[str]) -> list[str]:
    allowed_set = set(allowed)
    return [str(k) for k in node if k not in allowed_set]
