"""`optout media`: the reservation inside cover art and audio previews.

    optout media stamp DIR [--policy FILE] [--url-prefix /] [--cert FILE --key FILE]
                           [--sidecars] [--index FILE] [--dry-run]
    optout media check FILE... [--policy FILE] [--root DIR] [--url-prefix /] [--json]
    optout media keygen --out DIR [--name NAME]

`stamp` writes, into every JPEG, PNG, MP3, WAV and FLAC file under DIR (a web
root: DIR/media/a.mp3 is served at /media/a.mp3, or under --url-prefix), what
the policy (--policy, or policy.yaml of --rules) resolves for that path and
content type; with a certificate and key, a signed C2PA manifest too. Standard output has one line
per file; exit status 0, or 1 if a file was skipped (each says why) or the
credentials cannot sign, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from proxy.cli.serveflags import add_rules_flag, setting_value
from proxy.config.policy import Policy
from proxy.media import keys, policyfile, stamp
from proxy.media.files import media_files, parse_prefix, url_path
from proxy.media.manifests import Credentials, load_credentials
from proxy.media.readback import check_file, render

CERT_FILE, KEY_FILE = "media-cert.pem", "media-key.pem"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "media", help="write the reservation into images and audio files; read it back"
    )
    sub = parser.add_subparsers(required=True, metavar="SUBCOMMAND")

    stamp_ = sub.add_parser("stamp", help="write the reservation into every media file of DIR")
    stamp_.add_argument("dir", type=Path, metavar="DIR", help="the web root (or a part of it)")
    _add_policy(stamp_)
    _add_prefix(stamp_)
    stamp_.add_argument(
        "--cert", type=Path, metavar="FILE", help="PEM certificate chain (signs C2PA)"
    )
    stamp_.add_argument("--key", type=Path, metavar="FILE", help="its PEM private key")
    stamp_.add_argument(
        "--sidecars",
        action="store_true",
        help="also write each signed manifest beside its file (NAME.c2pa), for media_manifests",
    )
    stamp_.add_argument(
        "--index",
        type=Path,
        metavar="FILE",
        help="write the URL paths that have a sidecar to FILE (rules/media-manifests.txt)",
    )
    stamp_.add_argument(
        "--dry-run", action="store_true", help="say what would change; write nothing"
    )
    stamp_.set_defaults(handler=_stamp)

    check = sub.add_parser("check", help="what files say, and whether it agrees with the policy")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _add_policy(check)
    check.add_argument(
        "--root", type=Path, default=Path("."), metavar="DIR", help="the web root (default: .)"
    )
    _add_prefix(check)
    check.add_argument("--json", action="store_true", help="one JSON object per file")
    check.set_defaults(handler=_check)

    keygen = sub.add_parser("keygen", help="write a self-signed test certificate chain and key")
    keygen.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="where to write them"
    )
    keygen.add_argument(
        "--name", default="optout-proxy test signer", help="the organisation the certificate names"
    )
    keygen.add_argument("--days", type=int, default=825, help="validity (default: 825)")
    keygen.set_defaults(handler=_keygen)


def _add_policy(parser: argparse.ArgumentParser) -> None:
    add_rules_flag(parser)
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="the policy file to resolve with (default: policy.yaml of --rules); "
        "with rules/sites.yaml, the site's own",
    )


def _policy(args: argparse.Namespace) -> Policy:
    return policyfile.load(args.policy or Path(setting_value(args, "rules")))


def _add_prefix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url-prefix",
        type=_prefix,
        default="/",
        metavar="PATH",
        help="the URL path DIR is served at (default: /)",
    )


def _prefix(text: str) -> str:
    try:
        return parse_prefix(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _stamp(args: argparse.Namespace) -> int:
    if (args.cert is None) != (args.key is None):
        return _error("--cert and --key go together", 2)
    if not args.dir.is_dir():
        return _error(f"{args.dir} is not a directory", 2)
    if args.sidecars and args.cert is None:
        return _error("--sidecars writes signed manifests: give --cert and --key", 2)
    credentials: Credentials | None = None
    if args.cert is not None:
        try:
            credentials = load_credentials(args.cert, args.key)
        except ValueError as e:
            return _error(str(e), 1)
    else:
        print(
            "optout: no --cert/--key: writing unsigned metadata only (XMP, ID3, Vorbis "
            "comments), no C2PA manifest",
            file=sys.stderr,
        )
    policy = _policy(args)
    counts: Counter[str] = Counter()
    outcomes = stamp.stamp_tree(
        args.dir,
        policy.reservation,
        policy.label,
        credentials,
        args.url_prefix,
        args.dry_run,
        args.sidecars,
    )
    for outcome in outcomes:
        counts[outcome.status] += 1
        print(f"{outcome.status}: {outcome.path} ({outcome.url_path}): {outcome.detail}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no media files"
    print(f"optout: {args.dir}: {summary}", file=sys.stderr)
    if args.index is not None and not args.dry_run:
        paths = stamp.sidecar_index(args.dir, args.url_prefix)
        try:
            args.index.parent.mkdir(parents=True, exist_ok=True)
            args.index.touch(0o644)
            stamp.replace(args.index, "".join(f"{p}\n" for p in paths).encode())
        except OSError as e:
            return _error(f"cannot write {args.index}: {e.strerror}", 1)
        print(f"optout: {args.index}: {len(paths)} media file(s) with a sidecar", file=sys.stderr)
    return 1 if counts[stamp.SKIPPED] else 0


def _check(args: argparse.Namespace) -> int:
    policy = _policy(args)
    disagree = 0
    for path in args.files:
        report = check_file(
            path, url_path(args.root, path, args.url_prefix), policy.reservation, policy.label
        )
        disagree += not report.agrees
        if args.json:
            print(json.dumps(report.to_json(), ensure_ascii=False))
        else:
            print("\n".join(render(report)))
    return 1 if disagree else 0


def check_tree(root: Path, reservation: Any, label: str, prefix: str = "/") -> list[str]:
    """`optout check --media`: one line per file whose reservation disagrees."""
    lines = []
    for path in media_files(root):
        report = check_file(path, url_path(root, path, prefix), reservation, label)
        if not report.agrees:
            lines.append(f"{path} ({report.url_path}): " + "; ".join(report.problems))
    return lines


def _keygen(args: argparse.Namespace) -> int:
    try:
        pair = keys.make_test_pair(args.name, args.days)
    except ValueError as e:
        return _error(str(e), 2)
    taken = [p for p in (args.out / KEY_FILE, args.out / CERT_FILE) if p.exists()]
    if taken:
        return _error(f"{taken[0]} exists; refusing to overwrite it", 1)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        keys.write_new(args.out / KEY_FILE, pair.key_pem, 0o600)
        keys.write_new(args.out / CERT_FILE, pair.chain_pem, 0o644)
    except FileExistsError as e:
        return _error(f"{e.filename} exists; refusing to overwrite it", 1)
    except OSError as e:
        return _error(f"cannot write {e.filename}: {e.strerror}", 1)
    print(
        f"optout: wrote {args.out / CERT_FILE} and {args.out / KEY_FILE}: a TEST pair, "
        "trusted by no one; stamp with --cert and --key",
        file=sys.stderr,
    )
    return 0


def _error(message: str, status: int) -> int:
    print(f"optout: {message}", file=sys.stderr)
    return status
