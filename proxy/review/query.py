"""The log as one DuckDB table, read in place from plain and gzipped JSON lines.

DuckDB's `read_json` with explicit column types parses a million records in about
2.5 s (plain) to 4 s (gzipped) on the two-core reference machine, where Python's
json.loads alone takes longer; `read_ndjson_objects` keeps each record's original
text (for output that must be the raw record) at about half that speed.
Both views expose the same flat column names, so one WHERE clause serves both.
Malformed lines (a record cut short by a crash) are skipped, not fatal, and never
counted as requests: a review must still read a log whose writer died; the
commands name those lines (proxy.review.vocabulary) and `optout logs verify`
flags them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from proxy.review.files import ReviewError

# Flat column name -> (path in the record, type). read_json is told only the fields a
# query uses (narrower types parse faster) and ignores every other key.
FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "ts": (("@timestamp",), "VARCHAR"),
    "action": (("event", "action"), "VARCHAR"),
    "seq": (("event", "sequence"), "BIGINT"),
    "ip": (("source", "ip"), "VARCHAR"),
    "domain": (("url", "domain"), "VARCHAR"),
    "path": (("url", "path"), "VARCHAR"),
    "query": (("url", "query"), "VARCHAR"),
    "method": (("http", "request", "method"), "VARCHAR"),
    "ref": (("http", "request", "id"), "VARCHAR"),  # the reference a block page quoted
    "status": (("http", "response", "status_code"), "INTEGER"),
    "bytes": (("http", "response", "body", "bytes"), "BIGINT"),
    "ua": (("user_agent", "original"), "VARCHAR"),
    "agent": (("optout", "agent"), "VARCHAR"),
    "operator": (("optout", "operator"), "VARCHAR"),
    "purpose": (("optout", "purpose"), "VARCHAR"),
    "identity": (("optout", "identity"), "VARCHAR"),
    "rule": (("optout", "rule"), "VARCHAR"),
    "signals": (("optout", "signals"), "VARCHAR[]"),
    "verified_by": (("optout", "verified_by"), "VARCHAR"),
    "failure": (("optout", "verification_failure"), "VARCHAR"),
    "served_kind": (("optout", "served", "kind"), "VARCHAR"),
    "served_sha256": (("optout", "served", "sha256"), "VARCHAR"),
    # What the request showed besides its claim (proxy.review.suspicious).
    "provider": (("optout", "network", "provider"), "VARCHAR"),
    "client_family": (("optout", "client_family"), "VARCHAR"),
    "signals_seen": (("optout", "signals_seen"), "VARCHAR[]"),
    "flagged": (("optout", "flagged"), "VARCHAR[]"),
    "trap": (("optout", "trap"), "VARCHAR"),
    "undeclared_operator": (("optout", "undeclared_operator"), "VARCHAR"),
    "crawler_range": (("optout", "crawler_range"), "VARCHAR"),
    "outcome": (("optout", "outcome"), "VARCHAR"),  # challenged, challenge-passed, blocked...
}
_SPILL: list[str] = []
SUMMARY_FIELDS = ("ts", "action", "bytes", "path", "agent", "operator", "purpose", "identity")
Tree = dict[str, "Tree | str"]


def connect(
    files: Sequence[Path], *, raw: bool = False, fields: Sequence[str] = tuple(FIELDS)
) -> duckdb.DuckDBPyConnection:
    """A connection with views over `files`: `everything`, `records` (no gaps) and `gaps`."""
    # DuckDB's progress bar goes to standard output, which carries our data.
    con = duckdb_connect()
    con.execute("SET enable_progress_bar = false")
    source = _raw_source(files) if raw else _typed_source(files, (*fields, "action", "ts"))
    # A line that is not JSON comes out of ignore_errors as a row of NULLs: no record.
    # Checkpoint records (proxy.evidence.checkpoints) are the log's own, not requests.
    everything = (
        f"SELECT * FROM ({source}) WHERE ts IS NOT NULL"  # noqa: S608 - ours
        " AND action IS DISTINCT FROM 'checkpoint'"
    )
    con.execute(f"CREATE VIEW everything AS {everything}")
    con.execute(
        "CREATE VIEW records AS SELECT * FROM everything WHERE action IS DISTINCT FROM 'log-gap'"
    )
    con.execute("CREATE VIEW gaps AS SELECT * FROM everything WHERE action = 'log-gap'")
    return con


def duckdb_connect() -> duckdb.DuckDBPyConnection:
    """DuckDB spilling to a directory of its own (not `.tmp` where the command runs).

    No memory limit: at 200 MB the JSON reader's buffers (32 MB a thread) ran out of
    room on a million records and the command failed, which is worse than memory."""
    return duckdb.connect(config={"temp_directory": _spill_dir()})


def _spill_dir() -> str:
    """A private temporary directory, removed when the command ends."""
    if not _SPILL:
        _SPILL.append(tempfile.mkdtemp(prefix="optout-review-"))
        atexit.register(shutil.rmtree, _SPILL[0], ignore_errors=True)
    return _SPILL[0]


def _typed_source(files: Sequence[Path], fields: Sequence[str]) -> str:
    tree: Tree = {}
    for name in dict.fromkeys(fields):
        path, kind = FIELDS[name]
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[path[-1]] = kind
    columns = "{" + ", ".join(f"{_lit(k)}: {_lit(_type(v))}" for k, v in tree.items()) + "}"
    select = ", ".join(f"{_expr(FIELDS[n][0])} AS {n}" for n in dict.fromkeys(fields))
    return (
        # Paths are quoted by _lit; everything else is ours.
        f"SELECT {select} FROM read_json({_paths(files)}, columns={columns}, "  # noqa: S608
        "format='newline_delimited', compression='auto', ignore_errors=true)"
    )


def _type(node: Tree | str) -> str:
    if isinstance(node, str):
        return node
    return "STRUCT(" + ", ".join(f'"{k}" {_type(v)}' for k, v in node.items()) + ")"


def _expr(path: tuple[str, ...]) -> str:
    return ".".join(f'"{key}"' for key in path)


def _raw_source(files: Sequence[Path]) -> str:
    def extract(path: tuple[str, ...], kind: str) -> str:
        pointer = _lit("$." + ".".join(f'"{key}"' for key in path))
        if kind == "VARCHAR":
            return f"json ->> {pointer}"
        return f"TRY_CAST(json -> {pointer} AS {kind})"

    select = ", ".join(f"{extract(*FIELDS[n])} AS {n}" for n in FIELDS)
    return (
        f"SELECT {select}, json::VARCHAR AS raw FROM read_ndjson_objects({_paths(files)}, "  # noqa: S608
        "compression='auto', ignore_errors=true)"
    )


def _paths(files: Sequence[Path]) -> str:
    if not files:
        raise ReviewError("no log files to read")
    return "[" + ", ".join(_lit(str(f)) for f in files) + "]"


def _lit(text: str) -> str:
    """A SQL string literal (paths and types are ours, but a path may hold a quote)."""
    return "'" + text.replace("'", "''") + "'"
