"""`optout licence keygen | issue | check`, run in-process on a fresh parser."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.cli import licence as licencecli
from proxy.licensing import tokens as licence
from proxy.store import keys as keyfiles


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Parse and run like `optout` does; return (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="optout")
    licencecli.add_parsers(parser.add_subparsers(required=True, metavar="COMMAND"))
    out, err = io.StringIO(), io.StringIO()
    old_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
            code = int(args.handler(args))
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "label.key"
    code, out, err = run("licence", "keygen", "--out", str(path))
    assert code == 0
    assert "list the line above" in err
    return path, out.strip()


ISSUE = ("--licensee", "Acme AI", "--agent", "GPTBot", "--agent", "ClaudeBot")


def test_keygen_writes_a_private_key_and_prints_its_public_line(key: tuple[Path, str]) -> None:
    path, public = key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public == licence.public_key_text(keyfiles.load_private_key(path))


def test_keygen_refuses_to_overwrite(key: tuple[Path, str]) -> None:
    path, _ = key
    before = path.read_bytes()
    code, out, err = run("licence", "keygen", "--out", str(path))
    assert (code, out) == (1, "")
    assert "refusing to overwrite" in err
    assert path.read_bytes() == before


def test_keygen_reports_an_unwritable_place(tmp_path: Path) -> None:
    code, _, err = run("licence", "keygen", "--out", str(tmp_path / "missing" / "k"))
    assert code == 1
    assert "cannot write" in err


def test_issue_then_check(key: tuple[Path, str]) -> None:
    path, public = key
    code, out, err = run(
        "licence",
        "issue",
        "--key",
        str(path),
        *ISSUE,
        "--paths",
        "/catalogue/",
        "/press/",
        "--expires",
        "2099-12-31",
    )
    assert (code, err) == (0, "")
    token = out.strip()
    assert out == token + "\n"
    assert token.startswith("olt1.")
    for agent, path_, ok in [
        ("gptbot", "/press/x", True),
        ("ClaudeBot", "/catalogue/", True),
        ("Bytespider", "/press/x", False),
        ("GPTBot", "/private", False),
    ]:
        code, out, _ = run(
            "licence", "check", token, "--public-key", public, "--agent", agent, "--path", path_
        )
        result = json.loads(out)
        assert code == (0 if ok else 1)
        assert result["ok"] is ok
        assert result["licensee"] == "Acme AI"
        assert result["error"] == (None if ok else "insufficient_scope")


def test_expires_date_means_through_that_day(key: tuple[Path, str]) -> None:
    path, _ = key
    _, out, _ = run(
        "licence", "issue", "--key", str(path), *ISSUE, "--paths", "/", "--expires", "2099-12-31"
    )
    end = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
    keys = [keyfiles.load_private_key(path).public_key()]
    token = out.strip()
    assert licence.verify_token(token, keys, agent="GPTBot", path="/", now=end - 1).ok
    assert licence.verify_token(token, keys, agent="GPTBot", path="/", now=end).error == "expired"


@pytest.mark.parametrize(
    ("expires", "end"),
    [
        ("2099-06-01T12:00:00Z", datetime(2099, 6, 1, 12, tzinfo=UTC)),
        ("2099-06-01T12:00:00+02:00", datetime(2099, 6, 1, 10, tzinfo=UTC)),
        ("2099-06-01T12:00:00", datetime(2099, 6, 1, 12, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_expires_iso_times(key: tuple[Path, str], expires: str, end: datetime) -> None:
    path, _ = key
    _, out, _ = run(
        "licence", "issue", "--key", str(path), *ISSUE, "--paths", "/", "--expires", expires
    )
    keys = [keyfiles.load_private_key(path).public_key()]
    at = end.timestamp()
    assert licence.verify_token(out.strip(), keys, agent="GPTBot", path="/", now=at - 1).ok
    assert not licence.verify_token(out.strip(), keys, agent="GPTBot", path="/", now=at).ok


def test_check_reads_the_token_from_stdin(key: tuple[Path, str]) -> None:
    path, public = key
    _, token, _ = run(
        "licence", "issue", "--key", str(path), *ISSUE, "--paths", "/", "--expires", "2099-01-01"
    )
    code, out, _ = run(
        "licence",
        "check",
        "-",
        "--public-key",
        public,
        "--agent",
        "GPTBot",
        "--path",
        "/",
        stdin=token,
    )
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_check_without_agent_and_with_a_wrong_key(key: tuple[Path, str]) -> None:
    path, public = key
    _, token, _ = run(
        "licence", "issue", "--key", str(path), *ISSUE, "--paths", "/", "--expires", "2099-01-01"
    )
    code, out, _ = run("licence", "check", token.strip(), "--public-key", public, "--path", "/")
    assert (code, json.loads(out)["error"]) == (1, "insufficient_scope")
    other = licence.public_key_text(licence.generate_key())
    code, out, _ = run(
        "licence",
        "check",
        token.strip(),
        "--public-key",
        other,
        "--public-key",
        public,
        "--agent",
        "GPTBot",
        "--path",
        "/",
    )
    assert code == 0
    code, out, _ = run(
        "licence", "check", token.strip(), "--public-key", other, "--agent", "GPTBot", "--path", "/"
    )
    result = json.loads(out)
    assert (code, result["error"], result["licensee"]) == (1, "invalid_token", None)
    assert token.strip() not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--paths", "/", "--expires", "tomorrow"), "is not YYYY-MM-DD"),
        (("--paths", "/", "--expires", "2099-13-01"), "is not YYYY-MM-DD"),
        (("--paths", "press", "--expires", "2099-01-01"), "must start with"),
        (("--expires", "2099-01-01"), "--paths"),
        (("--paths", "/"), "--expires"),
        (("--paths", "/", "--expires", "2000-01-01"), "is in the past"),
    ],
)
def test_issue_usage_errors_exit_2(
    key: tuple[Path, str], args: tuple[str, ...], message: str
) -> None:
    path, _ = key
    code, out, err = run("licence", "issue", "--key", str(path), *ISSUE, *args)
    assert (code, out) == (2, "")
    assert message in err


def test_issue_rejects_a_bad_licensee(key: tuple[Path, str]) -> None:
    path, _ = key
    code, out, err = run(
        "licence",
        "issue",
        "--key",
        str(path),
        "--licensee",
        " ",
        "--agent",
        "GPTBot",
        "--paths",
        "/",
        "--expires",
        "2099-01-01",
    )
    assert (code, out) == (2, "")
    assert "licensee" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("not a key", "not an unencrypted PEM private key")],
)
def test_issue_bad_key_file_exits_1(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "label.key"
    if content is not None:
        path.write_text(content)
    code, out, err = run(
        "licence", "issue", "--key", str(path), *ISSUE, "--paths", "/", "--expires", "2099-01-01"
    )
    assert (code, out) == (1, "")
    assert message in err


def test_check_rejects_a_bad_public_key() -> None:
    code, out, err = run("licence", "check", "t", "--public-key", "ed25519:nope", "--path", "/")
    assert (code, out) == (2, "")
    assert "43 base64url characters" in err


def test_licence_needs_a_subcommand() -> None:
    code, _, err = run("licence")
    assert code == 2
    assert "SUBCOMMAND" in err


def test_hash_prints_what_the_rules_list() -> None:
    assert run("licence", "hash", "abc") == (0, licence.hash_token("abc") + "\n", "")
    assert run("licence", "hash", "-", stdin="abc\n") == (0, licence.hash_token("abc") + "\n", "")
    code, out, err = run("licence", "hash", "-", stdin="")
    assert (code, out) == (2, "")
    assert "empty" in err
