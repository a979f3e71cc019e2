"""What a `--workers` supervisor tells each worker process it starts.

The supervisor resolves the settings once and hands each worker its own copy
(its access-log file, its admin endpoints on a loopback port of its own with a
token only the supervisor knows) with the listening sockets it bound, as
inherited descriptors. The spec goes down the worker's standard input, pickled:
the worker is our own child, and the settings hold secrets (tokens, the log's
HMAC key) that must not appear in its command line or environment.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path

from proxy.evidence.chain import worker_log
from proxy.settings import Settings


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    worker: int  # 1..workers; names its log, chain head and ledger
    workers: int
    settings: Settings  # this worker's own (worker_settings)
    listeners: dict[int, tuple[int, ...]]  # listen port -> inherited socket descriptors
    control: int  # descriptor of the worker's end of its socket pair with the supervisor

    def dumps(self) -> bytes:
        return pickle.dumps(self)

    @staticmethod
    def loads(data: bytes) -> WorkerSpec:
        spec = pickle.loads(data)  # noqa: S301 - written by our own supervisor, down a pipe
        if not isinstance(spec, WorkerSpec):
            raise ValueError(f"worker spec: expected a WorkerSpec, got {type(spec).__name__}")
        return spec


def worker_settings(
    settings: Settings, worker: int, listen_port: int, tls_port: int | None, token: str
) -> Settings:
    """Worker `worker`'s settings: its own log file, and admin endpoints for the supervisor.

    `listen_port` and `tls_port` are the ports the supervisor bound (`:0` picks one). The worker's
    admin port is loopback-only, any free port, and needs `token` for /metrics as for
    /reload, so nothing but the supervisor talks to it.
    """
    tls = settings.tls_listen
    if tls is not None and tls_port is not None:
        tls = (tls[0], tls_port)
    return dataclasses.replace(
        settings,
        log=str(worker_log(Path(settings.log), worker)),
        listen_port=listen_port,
        tls_listen=tls,
        admin=("127.0.0.1", 0),
        admin_token=token,
        metrics_token=token,
        workers=1,
    )
