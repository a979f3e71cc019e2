from __future__ import annotations

import duckdb

from proxy.review import changes


def _con(rows: list[tuple[str, str | None, str, str, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE r (ts VARCHAR, agent VARCHAR, ip VARCHAR, identity VARCHAR, action VARCHAR)"
    )
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", rows)
    return con


def test_middle_keeps_the_log_format() -> None:
    assert changes.middle("2026-11-01T00:00:00.000Z", "2026-11-03T00:00:00.000Z") == (
        "2026-11-02T00:00:00.000Z"
    )


def test_later_half_against_earlier() -> None:
    con = _con([
        ("2026-11-01T00:00:00.000Z", "GPTBot", "1.1.1.1", "claimed", "block"),
        ("2026-11-01T01:00:00.000Z", "Googlebot", "192.0.2.1", "spoofed", "block"),
        ("2026-11-01T03:00:00.000Z", "GPTBot", "1.1.1.1", "claimed", "block"),
        ("2026-11-01T03:00:00.000Z", "GPTBot", "1.1.1.1", "claimed", "block"),
        ("2026-11-01T03:30:00.000Z", "Googlebot", "192.0.2.1", "spoofed", "block"),
        ("2026-11-01T03:30:00.000Z", "Googlebot", "192.0.2.9", "spoofed", "block"),
        ("2026-11-01T04:00:00.000Z", "ClaudeBot", "3.3.3.3", "claimed", "allow"),
    ])  # fmt: skip
    found = changes.find(con)
    assert found.middle == "2026-11-01T02:00:00.000Z"
    assert found.new_agents == (("ClaudeBot", 1),)  # GPTBot and Googlebot were seen before
    assert found.new_spoofers == (("Googlebot", "192.0.2.9", 1),)  # .1 spoofed before too
    assert found.rising_blocks == (("GPTBot", 1, 2), ("Googlebot", 1, 2))


def test_one_instant_is_not_compared() -> None:
    con = _con([("2026-11-01T00:00:00.000Z", "GPTBot", "1.1.1.1", "claimed", "block")])
    found = changes.find(con)
    assert found.middle is None
    assert "Too few timed records" in changes.html(found, "-", "-")
