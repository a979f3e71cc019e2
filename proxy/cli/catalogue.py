"""`optout catalogue`: keep rules/agents/ fresh against ai.robots.txt, and count it.

    optout catalogue import ai-robots-txt FILE [--write]   what is new, removed, changed
    optout catalogue stats                                  agents per purpose and operator

`import` compares a robots.json of the ai.robots.txt project with the catalogue by
robots token (case-insensitive). New names are printed, and with `--write` added as
entries whose purpose is mapped from the list's `function` and marked for review
(`purpose_note` starts with "review:"); an operator's existing file is edited with
ruamel.yaml's round trip, so its comments and hand edits stay as they are. Removed
means an entry that cites ai.robots.txt as a source names no token the list still
has; changed means the list's function maps to another purpose than the entry's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from proxy.config.catalogue import token_key
from proxy.model import Purpose

AI_ROBOTS_TXT = "https://github.com/ai-robots-txt/ai.robots.txt"
REVIEW = "review:"
# The list's `function` words, most specific first; anything else is training, the
# use a label reserves first, and is marked for review like every imported entry.
_FUNCTIONS = (
    ("scrap", Purpose.AI_TRAINING),
    ("train", Purpose.AI_TRAINING),
    ("search", Purpose.AI_SEARCH),
    ("answer", Purpose.AI_SEARCH),
    ("provider", Purpose.AI_SEARCH),
    ("assistant", Purpose.AI_ASSISTANT),
    ("agent", Purpose.AI_ASSISTANT),
    ("user", Purpose.AI_ASSISTANT),
)
_AI = frozenset(str(p) for p in (Purpose.AI_TRAINING, Purpose.AI_SEARCH, Purpose.AI_ASSISTANT))
_URL = re.compile(r"https?://[^\s)\]>\"']+")
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


class Entry(NamedTuple):
    """One agent entry of rules/agents/, as far as the comparison needs it."""

    file: str
    name: str
    purpose: str
    tokens: tuple[str, ...]
    sources: tuple[str, ...]
    note: str  # purpose_note: why this purpose, or "review: ..." if nobody checked yet

    @property
    def reviewed(self) -> bool:
        return bool(self.note) and not self.note.startswith(REVIEW)


class Diff(NamedTuple):
    new: list[str]
    removed: list[Entry]
    changed: list[tuple[Entry, str, Purpose]]  # entry, the list's function, its purpose


def purpose_of(function: str) -> Purpose:
    lowered = function.lower()
    return next((p for word, p in _FUNCTIONS if word in lowered), Purpose.AI_TRAINING)


def _use(purpose: str) -> str:
    """What a purpose means for the reservation: training, AI input (search and
    assistants alike: Content-Signal ai-input), or no AI use."""
    if purpose == Purpose.AI_TRAINING:
        return "train"
    return "input" if purpose in _AI else "none"


def read_entries(directory: Path) -> list[Entry]:
    yaml = YAML(typ="safe")
    entries = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
        for agent in data.get("agents") or []:
            entries.append(
                Entry(
                    path.name,
                    str(agent.get("name")),
                    str(agent.get("purpose")),
                    tuple(agent.get("robots_tokens") or ()),
                    tuple(agent.get("sources") or ()),
                    str(agent.get("purpose_note") or ""),
                )
            )
    return entries


def compare(listed: dict[str, Any], entries: list[Entry]) -> Diff:
    names = {name.lower(): name for name in listed}
    held = {t.lower(): e for e in entries for t in e.tokens}
    new = sorted((name for key, name in names.items() if key not in held), key=str.lower)
    removed = [
        e
        for e in entries
        if AI_ROBOTS_TXT in e.sources
        and e.purpose in _AI
        and not any(t.lower() in names for t in e.tokens)
    ]
    changed: dict[str, tuple[Entry, str, Purpose]] = {}
    for key, name in names.items():
        entry = held.get(key)
        function = str(listed[name].get("function", ""))
        if entry is not None and _use(entry.purpose) != _use(purpose_of(function)):
            changed.setdefault(entry.name, (entry, function, purpose_of(function)))
    return Diff(new, removed, sorted(changed.values(), key=lambda c: c[0].name.lower()))


def new_entry(name: str, info: dict[str, Any], today: dt.date) -> CommentedMap:
    """A catalogue entry for a name of the list, marked for review."""
    function = str(info.get("function", "")) or "not stated"
    text = f"{info.get('operator', '')} {info.get('description', '')}"
    sources = list(dict.fromkeys([*_URL.findall(text), AI_ROBOTS_TXT]))
    tokens = [name] if token_key(name) is not None and " " not in name else []
    entry = CommentedMap()
    entry["name"] = name
    entry["purpose"] = str(purpose_of(function))
    entry["user_agents"] = _flow(tokens)
    entry["robots_tokens"] = _flow([name])
    entry["url"] = sources[0]
    entry["added"] = today
    entry["sources"] = _flow(sources)
    description = " ".join(str(info.get("description", "")).split()) or f"{name} (ai.robots.txt)."
    entry["description"] = description
    entry["purpose_note"] = f"{REVIEW} imported from ai.robots.txt, whose function is {function!r}"
    if not tokens:
        entry["control_token"] = True
    return entry


def operator_of(name: str, info: dict[str, Any]) -> str:
    operator = _MARKDOWN_LINK.sub(r"\1", str(info.get("operator", ""))).strip()
    return operator if operator and "unclear" not in operator.lower() else f"Unknown ({name})"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


def write_new(
    directory: Path, listed: dict[str, Any], names: list[str], today: dt.date
) -> list[Path]:
    """Add `names` to rules/agents/: to the operator's file if there is one, else a new file."""
    yaml = _round_trip()
    docs: dict[Path, Any] = {}
    by_operator = {}
    for path in sorted(directory.glob("*.yaml")):
        operator = (YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}).get("operator")
        by_operator[slug(str(operator))] = path
    for name in names:
        operator = operator_of(name, listed[name])
        path = by_operator.setdefault(slug(operator), directory / f"{slug(name)}.yaml")
        if path not in docs:
            docs[path] = (
                yaml.load(path.read_text(encoding="utf-8"))
                if path.exists()
                else CommentedMap(operator=operator, agents=CommentedSeq())
            )
        docs[path]["agents"].append(new_entry(name, listed[name], today))
    for path, data in docs.items():
        header = "" if path.exists() else f"# Sources: {AI_ROBOTS_TXT} (imported {today})\n"
        with path.open("w", encoding="utf-8") as out:
            out.write(header)
            yaml.dump(data, out)
    return sorted(docs)


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # long descriptions stay on one line, as in the shipped files
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _flow(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def add_parsers(commands: Any) -> None:
    catalogue = commands.add_parser("catalogue", help="the agent catalogue: import, stats")
    sub = catalogue.add_subparsers(required=True, metavar="COMMAND")
    imp = sub.add_parser("import", help="compare a newer public list with rules/agents/")
    imp.add_argument("source", choices=["ai-robots-txt"], help="the list's format")
    imp.add_argument("file", help="the list (ai.robots.txt: robots.json)")
    imp.add_argument("--rules", default="rules", help="rules directory (default: rules)")
    imp.add_argument("--write", action="store_true", help="add the new agents, marked for review")
    imp.set_defaults(handler=_import)
    stats = sub.add_parser("stats", help="agents per purpose and per operator")
    stats.add_argument("--rules", default="rules", help="rules directory (default: rules)")
    stats.set_defaults(handler=_stats)


def _import(args: argparse.Namespace) -> int:
    directory = Path(args.rules) / "agents"
    try:
        listed = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"optout: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    if not isinstance(listed, dict):
        print(f"optout: {args.file}: expected ai.robots.txt's robots.json", file=sys.stderr)
        return 2
    diff = compare(listed, read_entries(directory))
    for name in diff.new:
        function = listed[name].get("function", "")
        print(f"new      {name}  ({function!r} -> {purpose_of(str(function))})")
    for gone in diff.removed:
        print(f"removed  {gone.name}  ({gone.file}: none of {', '.join(gone.tokens)} is listed)")
    reviewed = 0
    for entry, function, purpose in diff.changed:
        if entry.reviewed:  # a purpose_note says why the catalogue differs
            reviewed += 1
            continue
        print(
            f"changed  {entry.name}  ({entry.file}: {entry.purpose}; list: {function!r}"
            f" -> {purpose})"
        )
    print(
        f"{len(diff.new)} new, {len(diff.removed)} removed,"
        f" {len(diff.changed) - reviewed} changed ({reviewed} more differ, with a purpose_note)"
    )
    if args.write and diff.new:
        for path in write_new(directory, listed, diff.new, dt.date.today()):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _stats(args: argparse.Namespace) -> int:
    entries = read_entries(Path(args.rules) / "agents")
    yaml = YAML(typ="safe")
    operators: Counter[str] = Counter()
    for path in sorted((Path(args.rules) / "agents").glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
        operators[str(data.get("operator"))] += len(data.get("agents") or [])
    purposes = Counter(e.purpose for e in entries)
    review = sum(e.note.startswith(REVIEW) for e in entries)
    print(f"{len(entries)} agents, {len(operators)} operators, {review} marked for review")
    print("per purpose:")
    for purpose in Purpose:
        print(f"  {purpose:<14} {purposes.get(str(purpose), 0):>4}")
    print("per operator:")
    for operator, count in sorted(operators.items(), key=lambda kv: (-kv[1], kv[0].lower())):
        print(f"  {operator:<40} {count:>4}")
    return 0
