"""The hash chain: stamping, the head file, the HMAC key, and every kind of tampering."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from proxy.errors import SettingsError
from proxy.evidence.chain import (
    GENESIS,
    ChainWriter,
    Head,
    digest,
    load_head,
    load_hmac_key,
    save_head,
)
from proxy.evidence.chainverify import verify_lines

KEY = b"k" * 32
LOG = Path("access.jsonl")


def chained(count: int, key: bytes | None = None) -> list[bytes]:
    chain = ChainWriter(key)
    return [chain.stamp({"event": {"kind": "event"}, "n": n}) for n in range(1, count + 1)]


def numbered(lines: list[bytes]) -> list[tuple[Path, int, bytes]]:
    return [(LOG, i, line) for i, line in enumerate(lines, 1)]


def head_of(lines: list[bytes], key: bytes | None = None) -> Head:
    last = json.loads(lines[-1])
    return Head(
        last["event"]["sequence"], digest(lines[-1], key), "hmac-sha256" if key else "sha256"
    )


def test_digest_is_sha256_or_hmac_of_the_line() -> None:
    assert digest(b"x", None) == hashlib.sha256(b"x").hexdigest()
    assert digest(b"x", KEY) == hmac.new(KEY, b"x", hashlib.sha256).hexdigest()


def test_stamp_numbers_links_and_serialises_as_ascii() -> None:
    chain = ChainWriter()
    record = {"event": {"kind": "event"}, "user_agent": {"original": "Bücherwurm/1.0"}}
    first = chain.stamp(record)
    second = chain.stamp(record)
    assert record == {"event": {"kind": "event"}, "user_agent": {"original": "Bücherwurm/1.0"}}
    assert first.isascii()
    assert b"\\u00fc" in first
    one, two = json.loads(first), json.loads(second)
    assert one["event"] == {"kind": "event", "sequence": 1}
    assert one["optout"]["chain"] == {"prev": GENESIS, "alg": "sha256"}
    assert two["optout"]["chain"]["prev"] == hashlib.sha256(first).hexdigest()
    assert chain.head == Head(2, hashlib.sha256(second).hexdigest(), "sha256")


def test_a_keyed_chain_says_so() -> None:
    line = ChainWriter(KEY).stamp({})
    assert json.loads(line)["optout"]["chain"]["alg"] == "hmac-sha256"


def test_intact_logs_verify() -> None:
    for key in (None, KEY):
        result = verify_lines(numbered(chained(20, key)), key, head_of(chained(20, key), key))
        assert (result.ok, result.records, result.first_sequence, result.last_sequence) == (
            True, 20, 1, 20,
        )  # fmt: skip


def test_a_log_whose_older_records_were_rotated_away_verifies_from_its_first_record() -> None:
    result = verify_lines(numbered(chained(20)[5:]), None)
    assert (result.ok, result.first_sequence) == (True, 6)


def tampered(lines: list[bytes], k: int, field: str = "n", value: object = 999) -> list[bytes]:
    """Record k (1-based) with one field changed, its chain fields untouched."""
    record = json.loads(lines[k - 1])
    record[field] = value
    return [*lines[: k - 1], json.dumps(record, separators=(",", ":")).encode(), *lines[k:]]


@pytest.mark.parametrize("key", [None, KEY])
def test_an_edited_record_is_named(key: bytes | None) -> None:
    result = verify_lines(numbered(tampered(chained(10, key), 4)), key)
    assert not result.ok
    assert (result.sequence, result.file, result.line) == (4, LOG, 4)
    assert (
        result.problem
        == "record 4 (access.jsonl:4) was changed: record 5 (access.jsonl:5) does not link to it"
    )


def test_an_edit_of_the_last_record_is_caught_by_the_head() -> None:
    lines = chained(10)
    result = verify_lines(numbered(tampered(lines, 10)), None, head_of(lines))
    assert (result.ok, result.sequence) == (False, 10)
    assert "does not match the chain head: it was changed" in str(result.problem)


def test_an_edit_of_the_last_but_one_record_is_named_with_the_head() -> None:
    lines = chained(10)
    result = verify_lines(numbered(tampered(lines, 9)), None, head_of(lines))
    assert (result.sequence, result.problem) == (
        9, "record 9 (access.jsonl:9) was changed: record 10 (access.jsonl:10) does not link to it",
    )  # fmt: skip


def test_a_deleted_record_is_named() -> None:
    lines = chained(10)
    result = verify_lines(numbered(lines[:6] + lines[7:]), None)
    assert (result.ok, result.sequence, result.line) == (False, 8, 7)
    assert result.problem == "sequence jumps from 6 to 8 at access.jsonl:7: record 7 is missing"


def test_several_deleted_records_are_counted() -> None:
    lines = chained(10)
    result = verify_lines(numbered(lines[:2] + lines[5:]), None)
    assert (
        result.problem == "sequence jumps from 2 to 6 at access.jsonl:3: records 3 to 5 are missing"
    )


def test_a_forged_record_inserted_without_the_key_is_named() -> None:
    # Without a key the forger can compute a valid prev; the duplicate number betrays it.
    lines = chained(10)
    forged = ChainWriter(None, 4, digest(lines[3], None)).stamp({"n": "forged"})
    result = verify_lines(numbered([*lines[:4], forged, *lines[4:]]), None)
    assert (result.ok, result.sequence, result.line) == (False, 5, 5)
    assert result.problem == (
        "sequence 5 appears twice (access.jsonl:5 and access.jsonl:6): "
        "the record at access.jsonl:5 was inserted"
    )


def test_a_forged_record_inserted_into_a_keyed_log_is_named() -> None:
    lines = chained(10, KEY)
    forged = ChainWriter(b"guess" * 4, 4, digest(lines[3], None)).stamp({"n": "forged"})
    result = verify_lines(numbered([*lines[:4], forged, *lines[4:]]), KEY)
    assert (result.ok, result.line) == (False, 5)
    assert (
        result.problem
        == "record 5 (access.jsonl:5) does not follow record 4: its prev does not match"
    )


def test_swapped_records_are_named() -> None:
    lines = chained(10)
    lines[4], lines[5] = lines[5], lines[4]
    result = verify_lines(numbered(lines), None)
    assert (result.ok, result.sequence, result.line) == (False, 6, 5)
    assert result.problem == (
        "records were reordered: record 6 (access.jsonl:5) comes before record 5 (access.jsonl:6)"
    )


def test_a_record_moved_back_is_named() -> None:
    lines = chained(10)
    moved = [*lines[:3], *lines[4:8], lines[3], *lines[8:]]
    result = verify_lines(numbered(moved), None)
    assert (result.ok, result.sequence, result.line) == (False, 5, 4)
    assert "records were reordered: record 5 (access.jsonl:4) comes before record 4" in str(
        result.problem
    )


def test_records_removed_from_the_end_are_caught_by_the_head() -> None:
    lines = chained(42)
    result = verify_lines(numbered(lines[:40]), None, head_of(lines))
    assert (result.ok, result.sequence) == (False, 41)
    assert result.problem == (
        "log ends at record 40 but the chain head says 42: records were removed from the end"
    )


def test_a_head_older_than_the_log_is_reported() -> None:
    lines = chained(5)
    result = verify_lines(numbered(lines), None, head_of(lines[:3]))
    assert "the head file is older than the log" in str(result.problem)


def test_a_wrong_key_is_reported_as_such() -> None:
    result = verify_lines(numbered(chained(10, KEY)), b"w" * 32)
    assert (result.ok, result.sequence) == (False, 2)
    assert result.problem == (
        "HMAC mismatch at record 2 (access.jsonl:2): wrong key or the log was rewritten"
    )


def test_a_keyed_log_rewritten_with_plain_hashes_is_caught() -> None:
    result = verify_lines(numbered(chained(10)), KEY)
    assert (result.ok, result.sequence) == (False, 1)
    assert "is not keyed (alg sha256) although a key was given" in str(result.problem)


def test_a_keyed_log_checked_without_the_key_asks_for_it() -> None:
    result = verify_lines(numbered(chained(10, KEY)), None)
    assert (result.ok, result.needs_key) == (False, True)
    assert "is chained with HMAC-SHA256: give the key" in str(result.problem)


def test_a_first_record_that_does_not_start_the_chain_is_caught() -> None:
    line = ChainWriter(None, 0, "1" * 64).stamp({})
    result = verify_lines(numbered([line]), None)
    assert "starts the chain, but its prev is not the genesis value" in str(result.problem)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"event":{"sequen', "access.jsonl:3 is not a JSON record: it was changed or cut short"),
        (b'{"n":1}', "access.jsonl:3 has no event.sequence or optout.chain"),
        (b'{"event":{"sequence":"3"},"optout":{"chain":{"prev":"x"}}}', "malformed"),
    ],
)
def test_lines_that_are_not_chained_records_are_named(line: bytes, problem: str) -> None:
    lines = chained(5)
    result = verify_lines(numbered([*lines[:2], line, *lines[2:]]), None)
    assert (result.ok, result.line) == (False, 3)
    assert problem in str(result.problem)


def test_the_head_survives_a_round_trip(tmp_path: Path) -> None:
    save_head(tmp_path / "head.json", Head(7, "a" * 64, "hmac-sha256"))
    assert load_head(tmp_path / "head.json") == Head(7, "a" * 64, "hmac-sha256")
    assert load_head(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"sequence": 1}')
    with pytest.raises(ValueError, match="not a chain head"):
        load_head(tmp_path / "bad.json")


def test_the_hmac_key_comes_from_a_flag_a_file_variable_or_a_variable(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"file-key-0123456789\n")
    assert load_hmac_key({}, tmp_path / "key") == b"file-key-0123456789"
    env = {"OPTOUT_LOG_HMAC_KEY_FILE": str(tmp_path / "key"), "OPTOUT_LOG_HMAC_KEY": "x" * 20}
    assert load_hmac_key(env) == b"file-key-0123456789"
    assert load_hmac_key({"OPTOUT_LOG_HMAC_KEY": "value-key-0123456789"}) == b"value-key-0123456789"
    assert load_hmac_key({}) is None
    assert load_hmac_key({"OPTOUT_LOG_HMAC_KEY": ""}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OPTOUT_LOG_HMAC_KEY": "sekrit-short"},
            "OPTOUT_LOG_HMAC_KEY holds 12 bytes: .* at least 16",
        ),
        ({"OPTOUT_LOG_HMAC_KEY_FILE": "/nonexistent/key"}, "cannot read the log HMAC key file"),
    ],
)
def test_bad_keys_are_refused_without_showing_them(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        load_hmac_key(env)
    assert "sekrit" not in str(caught.value)
