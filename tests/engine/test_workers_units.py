"""The pieces of --workers that need no running proxy: settings, sockets, names, the spec."""

from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest

from proxy.engine.supervisor import Slot, _describe, bind, problems
from proxy.engine.workerspec import WorkerSpec, worker_settings
from proxy.errors import SettingsError
from proxy.evidence.chain import head_file, worker_log
from proxy.settings import Settings, parse_workers, resolve


def settings(**changes: Any) -> Settings:
    base = Settings("http://127.0.0.1:9", "127.0.0.1", 0, Path("rules"), "/logs/access.jsonl",
                    Path("state"))  # fmt: skip
    return dataclasses.replace(base, **changes)


def test_workers_setting() -> None:
    assert parse_workers("3") == 3
    assert parse_workers("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "two", "257"):
        with pytest.raises(SettingsError, match="--workers / OPTOUT_WORKERS"):
            parse_workers(bad)
    flags = {"upstream": "http://127.0.0.1:9"}
    assert resolve(flags, {}).workers == 1  # the default: one process, as before
    assert resolve(flags, {"OPTOUT_WORKERS": "2"}).workers == 2


def test_worker_files_are_named_by_worker() -> None:
    assert worker_log(Path("/var/log/optout/access.jsonl"), 2) == Path(
        "/var/log/optout/access-2.jsonl"
    )
    assert worker_log(Path("log"), 1) == Path("log-1")
    assert head_file() == "chain-head.json"
    assert head_file(3) == "chain-head-3.json"


def test_standard_output_is_refused_with_workers() -> None:
    assert problems(settings(workers=1, log="-")) == []
    (problem,) = problems(settings(workers=2, log="-"))
    assert problem.startswith("--workers / OPTOUT_WORKERS 2 needs --log FILE / OPTOUT_LOG")


def test_each_workers_log_is_checked_and_the_log_itself_never_made(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "access.jsonl"
    assert problems(settings(workers=2, log=str(log))) == []
    assert sorted(p.name for p in log.parent.iterdir()) == ["access-1.jsonl", "access-2.jsonl"]
    (log.parent / "access-2.jsonl").unlink()
    (log.parent / "access-2.jsonl").mkdir()  # cannot be opened for appending
    (problem,) = problems(settings(workers=2, log=str(log)))
    assert problem.startswith(f"access log {log.parent / 'access-2.jsonl'} (--log / OPTOUT_LOG)")


def test_a_worker_gets_its_own_log_and_a_private_admin_port() -> None:
    mine = worker_settings(
        settings(workers=2, admin=("0.0.0.0", 9090), admin_token="operator", tls_listen=("::", 0)),
        2,
        8080,
        8443,
        "internal",
    )
    assert mine.log == "/logs/access-2.jsonl"
    assert (mine.listen_port, mine.tls_listen) == (8080, ("::", 8443))
    assert mine.admin == ("127.0.0.1", 0)
    assert (mine.admin_token, mine.metrics_token) == ("internal", "internal")
    assert mine.workers == 1


def test_the_spec_round_trips_and_nothing_else_is_accepted() -> None:
    spec = WorkerSpec(1, 2, settings(log_hmac_key=b"k" * 16), {8080: (5,)}, 6)
    assert WorkerSpec.loads(spec.dumps()) == spec

    with pytest.raises(ValueError, match="expected a WorkerSpec"):
        WorkerSpec.loads(pickle.dumps({"worker": 1}))


def test_bind_gives_each_worker_a_socket_on_one_port_and_the_kernel_uses_them_all() -> None:
    sockets = bind("127.0.0.1", 0, 2)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1
        port = ports.pop()
        for s in sockets:
            s.setblocking(False)
        accepted = [0, 0]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        for i, s in enumerate(sockets):
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                accepted[i] += 1
        for c in clients:
            c.close()
        assert sum(accepted) == 32
        assert min(accepted) > 0  # spread over both (all on one: 2 in 2^32)
    finally:
        for s in sockets:
            s.close()


def test_bind_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use") as refused:
            bind("127.0.0.1", taken.getsockname()[1], 2)
        assert refused.value.errno == errno.EADDRINUSE


def test_how_a_worker_ended_is_said() -> None:
    assert _describe(-9) == "was killed by SIGKILL"
    assert _describe(3) == "exited with status 3"
    assert not Slot(1, []).alive
