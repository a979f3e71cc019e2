from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from loggen import ROBOTS_V1, ROBOTS_V2, LogBuilder, at, scenario

from proxy.review import bundle_verify
from proxy.review.evidence import HEAD, MANIFEST, RECORDS, SEGMENT, SERVED, Request, build
from proxy.review.files import ReviewError, resolve
from tests.review.conftest import run_cli

KEY = b"k" * 32


def _bundle(b: LogBuilder, out: Path, agent: str = "GPTBot", **kw: str) -> dict[str, object]:
    return build(resolve([str(b.log)]), Request(agent, **kw), out, b.state)


def _rewrite(bundle: Path, name: str, change: object) -> None:
    with zipfile.ZipFile(bundle) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files[name] = change(files[name]) if callable(change) else change  # type: ignore[assignment]
    if files[name] is None:
        del files[name]
    with zipfile.ZipFile(bundle, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


def test_round_trip_across_rotated_files(tmp_path: Path) -> None:
    b = scenario(tmp_path / "log", rotate_every=3)
    out = tmp_path / "bundle.zip"
    manifest = _bundle(b, out)
    with zipfile.ZipFile(out) as z:
        records = z.read(RECORDS).splitlines()
        segment = z.read(SEGMENT).splitlines()
        names = set(z.namelist())
        summary = json.loads(z.read("summary.json"))
    assert records == [line for line in b.lines if b'"agent":"GPTBot"' in line]
    # From the predecessor of the first match (line 1) to the successor of the last (line 10).
    assert segment == b.lines[0:10]
    assert len(manifest["segment_sources"]) == 4  # type: ignore[arg-type]
    sha = {b.store.put(t.encode(), "robots.txt") for t in (ROBOTS_V1, ROBOTS_V2)}
    assert {SERVED + s for s in sha} <= names
    assert HEAD not in names
    assert [r["name"] for r in summary["rows"]] == ["GPTBot"]
    outcome = bundle_verify.verify(out, None)
    assert outcome.ok, outcome.problems


def test_window_and_head_at_the_log_end(built: LogBuilder, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    manifest = _bundle(built, out, "Googlebot", since=at(100))
    assert manifest["records"] == 1
    assert manifest["chain_head"] is None
    with zipfile.ZipFile(out) as z:
        assert z.read(SEGMENT).splitlines() == built.lines[-3:]
    # The last line of the log is the last match: the chain head pins it.
    built.request(200, "Googlebot", "/late")
    built.write()
    manifest = _bundle(built, out, "Googlebot", since=at(100))
    assert manifest["chain_head"] == HEAD
    outcome = bundle_verify.verify(out, None)
    assert outcome.ok
    assert "matches the chain head" in outcome.facts[0]
    _rewrite(out, HEAD, lambda d: d.replace(b'"sequence": 15', b'"sequence": 16'))
    assert not bundle_verify.verify(out, None).ok


@pytest.mark.parametrize(
    ("name", "change", "problem"),
    [
        (RECORDS, lambda d: d.replace(b"/a/1", b"/a/9"), "not in the chain segment"),
        (SEGMENT, lambda d: d.replace(b"/a/1", b"/a/9"), "chain segment broken"),
        (SEGMENT, lambda d: b"\n".join(d.splitlines()[:2] + d.splitlines()[3:]), "broken"),
        (RECORDS, lambda d: b"\n".join(d.splitlines()[1:]), "the manifest says"),
    ],
)
def test_tampering_is_detected(
    built: LogBuilder, tmp_path: Path, name: str, change: object, problem: str
) -> None:
    out = tmp_path / "b.zip"
    _bundle(built, out)
    _rewrite(out, name, change)
    outcome = bundle_verify.verify(out, None)
    assert not outcome.ok
    assert any(problem in p for p in outcome.problems), outcome.problems


def test_served_document_tampering_is_detected(built: LogBuilder, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    _bundle(built, out)
    sha = built.store.put(ROBOTS_V1.encode(), "robots.txt")
    _rewrite(out, SERVED + sha, b"User-agent: *\nAllow: /\n")
    assert any("was altered" in p for p in bundle_verify.verify(out, None).problems)
    _rewrite(out, SERVED + sha, None)
    assert any("missing from the bundle" in p for p in bundle_verify.verify(out, None).problems)


def test_hmac_chain_needs_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = scenario(tmp_path / "log", key=KEY)
    out, key_file = tmp_path / "b.zip", tmp_path / "key"
    key_file.write_bytes(KEY)
    _bundle(b, out)
    assert run_cli(["evidence", "verify", str(out)]) == 2
    assert "give the key" in capsys.readouterr().out
    assert run_cli(["evidence", "verify", str(out), "--key-file", str(key_file)]) == 0
    assert "OK: the bundle is consistent" in capsys.readouterr().out
    key_file.write_bytes(b"w" * 32)
    assert run_cli(["evidence", "verify", str(out), "--key-file", str(key_file)]) == 1


def test_cli(built: LogBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c.zip"
    argv = ["evidence", str(built.log), "--agent", "ClaudeBot", "--out", str(out)]
    assert run_cli([*argv, "--state", str(built.state)]) == 0
    assert "2 record(s) of ClaudeBot" in capsys.readouterr().err
    assert run_cli(["evidence", "verify", str(out)]) == 0
    assert run_cli(["evidence", str(built.log), "--agent", "Nobody", "--out", str(out)]) == 2
    assert "no records of agent 'Nobody'" in capsys.readouterr().err
    assert run_cli(["evidence", "verify", str(tmp_path / "missing.zip")]) == 2
    with zipfile.ZipFile(out) as z:
        assert "optout evidence verify" in z.read("README.txt").decode()
        assert json.loads(z.read(MANIFEST))["agent"] == "ClaudeBot"


def test_not_a_bundle(tmp_path: Path) -> None:
    bogus = tmp_path / "x.zip"
    with zipfile.ZipFile(bogus, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ReviewError, match="not an evidence bundle"):
        bundle_verify.verify(bogus, None)
