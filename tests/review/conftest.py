"""Review tests: the scenario log, and the optout parser with the review commands added."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from loggen import LogBuilder, scenario

from proxy.cli.logs import add_parsers
from proxy.cli.review import add_evidence_parser, add_review_parsers


@pytest.fixture
def built(tmp_path: Path) -> LogBuilder:
    return scenario(tmp_path)


def run_cli(argv: list[str]) -> int:
    """Run `optout ARGV` with the review commands wired in as proxy/cli.py will wire them."""
    parser = argparse.ArgumentParser(prog="optout")
    commands = parser.add_subparsers(required=True)
    add_review_parsers(add_parsers(commands))
    add_evidence_parser(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))
