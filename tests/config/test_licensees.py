"""rules/licensees.yaml: a good file loads; every problem names its line and licensee."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.licensees import load_licensees, parse_term
from proxy.errors import RuleError
from proxy.licensing.clients import hash_secret

HASH = hash_secret("s", b"\0" * 16)  # a fixed salt: test ids must not change
GOOD = f"""licensees:
  - client_id: acme-ai
    secret_hash: "{HASH}"
    organisation: Acme AI Ltd
    contact: mailto:l@acme.example
    agents: [GPTBot]
    expires: 2027-12-31
    licences:
      - {{usage: [ai-train], paths: [/music/], price: USD 250.00, term: 30d}}
    revoked_tokens: [j-1]
"""


def test_good(tmp_path: Path) -> None:
    path = tmp_path / "licensees.yaml"
    path.write_text(GOOD)
    acme = load_licensees(path).licensees["acme-ai"]
    assert acme.organisation == "Acme AI Ltd"
    assert acme.offers[0].term == 30 * 86400
    assert str(acme.offers[0].price.amount) == "250.00"  # type: ignore[union-attr]
    assert acme.expires is not None
    assert acme.expires.isoformat().startswith("2027-12-31T23:59:59")
    assert acme.revoked_tokens == {"j-1"}


def test_shipped_file_loads() -> None:
    assert load_licensees(Path(__file__).parents[2] / "rules" / "licensees.yaml").licensees == {}


def test_no_file_is_no_licensees(tmp_path: Path) -> None:
    assert load_licensees(tmp_path / "none.yaml").licensees == {}


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("client_id: acme-ai", "client_id: a b", 2, "client_id"),
        (f'secret_hash: "{HASH}"', "secret_hash: plain", 2, "scrypt hash"),
        ("agents: [GPTBot]", "agents: 3", 2, "agents"),
        ("expires: 2027-12-31", "expires: soon", 7, "must be a date"),
        ("usage: [ai-train]", "usage: [mine]", 9, "RSL usage tokens"),
        ("term: 30d", "term: 1y", 9, "term '1y'"),
        ("price: USD 250.00", "price: lots", 9, "licence 1"),
        ("revoked_tokens: [j-1]", "revoked_tokens: 4", 10, "token ids"),
        ("revoked_tokens: [j-1]", "revoked: maybe", 10, "true or false"),
        ("contact: mailto:l@acme.example", "colour: blue", 5, "unknown key 'colour'"),
    ],
)
def test_bad(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    path = tmp_path / "licensees.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(RuleError) as raised:
        load_licensees(path)
    [problem] = raised.value.problems
    assert problem.line == line
    assert message in problem.message
    assert "acme-ai" in str(problem) or "licensee 1" in str(problem)


def test_duplicate_and_every_problem_collected(tmp_path: Path) -> None:
    entries = GOOD.split("\n", 1)[1]
    path = tmp_path / "licensees.yaml"
    path.write_text(GOOD + entries + entries.replace("term: 30d", "term: x"))
    with pytest.raises(RuleError) as raised:
        load_licensees(path)
    messages = [p.message for p in raised.value.problems]
    assert any("listed twice" in m for m in messages)
    assert any("term 'x'" in m for m in messages)


@pytest.mark.parametrize("text", ["licensees: 3", "other: []", "- a"])
def test_bad_shape(tmp_path: Path, text: str) -> None:
    path = tmp_path / "licensees.yaml"
    path.write_text(text)
    with pytest.raises(RuleError):
        load_licensees(path)


def test_term() -> None:
    assert (parse_term("12h"), parse_term("90m")) == (43200, 5400)
    with pytest.raises(ValueError, match="such as 30d"):
        parse_term("0d")
