"""`optout logs`: the access log's commands; this module adds `verify`.

    optout logs verify [FILES]   check the hash chain; names the first bad record
    optout logs keygen           make the label's key that signs checkpoints

Exit codes: 0 the chain is intact, 1 it is not (a record was changed, removed,
inserted or reordered), 2 the check could not be made (unreadable files, a bad
or missing key). The HMAC key never appears in any output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from proxy.cli.serveflags import add_setting_flag, setting_value
from proxy.errors import SettingsError
from proxy.evidence.chain import Head, load_head
from proxy.evidence.chainverify import VerifyResult
from proxy.evidence.checkpoints import Seen
from proxy.evidence.verifyfiles import verify_files
from proxy.review import progress
from proxy.review.files import Chain, ReviewError, chains, describe, resolve
from proxy.settings import lookup

VERIFY_HELP = """\
Check the access log's hash chain: every record must link to the one before it.
Without FILES, the log at --log (env OPTOUT_LOG) is read; each FILE (plain or
.gz, e.g. a shell glob) stands for itself and the files rotated from it, as in
every review command, and all are put in chain order. Which files were read is
said on standard error.
A log that starts after record 1 (older files deleted by retention) is checked
from its first record on. Records removed from the end break no link: give
--state with the state dir the proxy writes to, whose chain-head.json holds the
last record written, to detect them (keep that file with the logs).
The logs of `optout run --workers N` (access-1.jsonl, access-2.jsonl, ... beside
--log access.jsonl) are read with it: each worker's chain is verified on its own,
against its own head (chain-head-<i>.json), and each is reported."""


class UsageError(Exception):
    """The check cannot be made as asked: exit code 2."""


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> (
    argparse._SubParsersAction[argparse.ArgumentParser]
):  # fmt: skip
    """Add `logs` and its `verify` subcommand; returns `logs`' subparsers for more."""
    logs = commands.add_parser("logs", help="verify and review the access log")
    subcommands = logs.add_subparsers(required=True, metavar="SUBCOMMAND")
    verify = subcommands.add_parser(
        "verify",
        help="check the log's hash chain; names the first bad record",
        description=VERIFY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("files", nargs="*", type=Path, metavar="FILES")
    add_setting_flag(verify, "log", meaning="the log file, when FILES are not given")
    # Not the state setting: without --state the end of the log is not checked, whatever
    # OPTOUT_STATE says, so that a copy of the logs verifies away from the proxy's disk.
    verify.add_argument(
        "--state",
        type=Path,
        help="the proxy's state dir: check the log's end against its chain head",
    )
    add_setting_flag(
        verify,
        "log_hmac_key_file",
        flag="--key-file",
        meaning="file holding the HMAC key the log was written with",
    )
    verify.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on the terminal (stderr)"
    )
    verify.set_defaults(handler=run_verify)
    keygen = subcommands.add_parser(
        "keygen",
        help="make the label's Ed25519 key that signs the log's checkpoints",
        description="Write <state>/checkpoint-signing.key (owner-only) and its public key "
        "<state>/checkpoint-signing.pub.pem. The proxy, restarted, signs every checkpoint "
        "and serves the public key at /.well-known/optout-checkpoint-key.pem. An existing "
        "key is never overwritten: move it away first to rotate.",
    )
    add_setting_flag(keygen, "state")
    keygen.set_defaults(handler=run_keygen)
    return subcommands


def run_keygen(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from proxy.evidence import signing
    from proxy.store.keys import save_private_key

    state = Path(str(lookup("state", vars(args), environ)))
    private, public = signing.paths(state)
    key = Ed25519PrivateKey.generate()
    try:
        state.mkdir(parents=True, exist_ok=True)
        save_private_key(key, private)
    except FileExistsError:
        print(f"optout: {private} exists: move it away first to make a new key", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"optout: cannot write {private}: {e.strerror}", file=sys.stderr)
        return 2
    public.write_bytes(signing.public_pem(key.public_key()))
    print(f"wrote {private} and {public}")
    print(f"key id (SHA-256 of the public key): {signing.key_id(key.public_key())}")
    return 0


def run_verify(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """`environ` replaces the process's environment (tests)."""
    try:
        key = setting_value(args, "log_hmac_key_file", environ)
        found = chains(_files(args, environ))
        heads = [_head(args.state, chain) for chain in found]
        checked = []
        progress.set_quiet(args.quiet)
        for chain, head in zip(found, heads, strict=True):
            seen = Seen()
            with progress.bar(f"verify {chain.name}", chain.files) as advance:
                result = verify_files(chain.files, key, head, seen, done=advance)
            checked.append((chain, result, head, seen))
    except (UsageError, SettingsError) as e:
        print(f"optout: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"optout: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    for chain, result, head, seen in checked:
        text = report(result, list(chain.files), head, seen)
        if len(checked) > 1:  # the logs of `--workers N`: one chain each
            text = f"chain {chain.name} ({_owner(chain)}):\n  " + text.replace("\n", "\n  ")
        print(text)
    if all(result.ok for _, result, _, _ in checked):
        if len(checked) > 1:
            print(f"OK: all {len(checked)} chains are intact")
        return 0
    if len(checked) > 1:
        broken = [c.name for c, result, _, _ in checked if not result.ok]
        print(f"NOT OK: {len(broken)} of {len(checked)} chains: {', '.join(broken)}")
    # A chain shown broken outweighs one that could not be checked without the key.
    return 1 if any(not r.ok and not r.needs_key for _, r, _, _ in checked) else 2


def _owner(chain: Chain) -> str:
    return "the proxy's log" if chain.worker is None else f"worker {chain.worker}"


def _files(args: argparse.Namespace, environ: Mapping[str, str] | None) -> list[Path]:
    """The same file set as every review command: proxy.review.files.resolve."""
    for path in args.files:  # a FILE that is missing or unreadable: exit code 2, named
        with path.open("rb"):
            pass
    try:
        files = resolve([str(f) for f in args.files], args.log, environ)
    except ReviewError as e:
        raise UsageError(str(e)) from None
    for path in files:
        with path.open("rb"):  # fail now, with exit code 2, rather than halfway through
            pass
    print(f"optout: {describe(files)}", file=sys.stderr)
    return files


def _head(state: Path | None, chain: Chain) -> Head | None:
    if state is None:
        return None
    path = chain.head(state)
    try:
        head = load_head(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the chain head: {e}") from None
    if head is None:
        raise UsageError(f"no chain head in {state} ({path.name})")
    return head


def report(
    result: VerifyResult, files: list[Path], head: Head | None, seen: Seen | None = None
) -> str:
    """What verify prints: the verdict first, then gaps and the limits of the check."""
    if not result.ok:
        verdict = "cannot verify" if result.needs_key else "CHAIN BROKEN"
        where = f" at {result.file}:{result.line}" if result.file and result.line else ""
        lines = [f"{verdict}{where}: {result.problem}"]
        intact = _intact_before(result)
        if intact:
            lines.append(f"the {intact} records before it are intact")
        return "\n".join(lines)
    span = (
        f"records {result.first_sequence} to {result.last_sequence}"
        if result.records
        else "no records"
    )
    lines = [f"OK: {span} ({result.records} records in {len(files)} files): the chain is intact"]
    for gap in result.gaps:
        lines.append(
            f"gap: records {gap.first_sequence} to {gap.last_sequence} ({gap.lost}) were lost: "
            f"the log could not be written ({gap.file.name}:{gap.line})"
        )
    if result.first_sequence not in (None, 1):
        lines.append(
            f"note: the log starts at record {result.first_sequence}: "
            "the files with the records before it were not given"
        )
    lines.extend(_checkpoint_lines(seen))
    if head is None:
        lines.append("note: no --state given: records removed from the end would go unnoticed")
    return "\n".join(lines)


def _intact_before(result: VerifyResult) -> int:
    """Records walked before the one named: the walk has counted the named record
    itself when the record after it exposed it."""
    named_walked = result.sequence is not None and result.sequence == result.last_sequence
    return result.records - 1 if named_walked else result.records


def _checkpoint_lines(seen: Seen | None) -> list[str]:
    if seen is None or not seen.count:
        return []
    last = f", the last timestamp at {seen.last_time}" if seen.last_time else ""
    lines = [
        f"checkpoints: {seen.count} ({seen.timestamped} timestamped by a TSA, "
        f"{seen.signed} signed){last}"
    ]
    return lines + seen.gaps
