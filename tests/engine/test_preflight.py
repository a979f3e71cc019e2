"""Start-up checks: each problem is one line naming the flag and the variable."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.engine import preflight
from proxy.settings import Settings


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _settings(tmp_path: Path, **changes: object) -> Settings:
    made = Settings("http://127.0.0.1:9", "127.0.0.1", 0, Path("rules"), "-", tmp_path / "state")
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def test_a_log_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")  # fails even for root
    problem = preflight.log_problem(str(tmp_path / "blocker" / "access.jsonl"))
    assert problem is not None
    assert problem.startswith(f"access log {tmp_path}/blocker/access.jsonl (--log / OPTOUT_LOG)")
    assert preflight.log_problem("-") is None
    assert preflight.log_problem(str(tmp_path / "logs" / "access.jsonl")) is None


def test_a_state_dir_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    problem = preflight.state_problem(tmp_path / "blocker" / "state")
    assert problem is not None
    assert "(--state / OPTOUT_STATE) cannot be written" in problem
    assert preflight.state_problem(tmp_path / "state") is None


def test_ports_in_use_are_named_with_flag_and_variable(tmp_path: Path, taken: int) -> None:
    settings = _settings(tmp_path, listen_port=taken, admin=("127.0.0.1", taken))
    assert preflight.refusals(settings) == [
        f"listen address 127.0.0.1:{taken} (--listen / OPTOUT_LISTEN) is in use by another program",
        f"admin address 127.0.0.1:{taken} (--admin / OPTOUT_ADMIN) is in use by another program",
    ]
    assert preflight.refusals(_settings(tmp_path)) == []


async def test_an_upstream_that_refuses_is_reported(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        problem = await preflight.upstream_problem(url, "--upstream / OPTOUT_UPSTREAM")
    assert problem is not None
    assert problem.startswith(f"upstream {url} (--upstream / OPTOUT_UPSTREAM) is not reachable: ")


async def test_an_upstream_that_listens_passes() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert await preflight.upstream_problem(f"http://127.0.0.1:{port}", "x") is None
