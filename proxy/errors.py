"""Exceptions raised by the core.

    OptoutError            base of everything the core raises on purpose
     ├── RuleError         the files in rules/ are invalid; carries every Problem found
     ├── SettingsError     a flag or environment variable is invalid
     └── KeyDirectoryError a Web Bot Auth key directory cannot be used (proxy.net.keydir)

Wire input (user agents, headers, upstream bodies) never raises: it is handled
leniently where it is parsed. Our own configuration is strict: every problem is
collected and reported with the file, line, rule and field it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class OptoutError(Exception):
    """Base class of the errors the core raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a rules file, located for the rule author."""

    file: str
    line: int | None
    message: str
    rule: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        parts = [where]
        if self.rule is not None:
            parts.append(self.rule)
        if self.field is not None:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class SettingsError(OptoutError):
    """A flag or environment variable has an invalid value."""


class RuleError(OptoutError):
    """The rules directory is invalid. `problems` lists every problem, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        # Stable sort: problems of one line keep the order they were found in.
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0)))
        super().__init__("\n".join(str(p) for p in self.problems))
