"""The checkpoint timer: every few minutes and at shutdown, timestamp and sign the chain head.

Runs in its own thread, never on the event loop: a TSA that is down or slow
costs this thread its timeouts and retries, and no request waits for it. Each
round asks the log writer for its head (after the records queued before), sends
the checkpoint statement's hash to every TSA (proxy.evidence.timestamps), keeps
each token in `<state>/timestamps/<sha256>`, signs the statement with the
label's key if there is one, and writes the `checkpoint` record into the chain.
When every TSA fails, the record says so (`gap`), and the next round tries again.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.evidence import checkpoints, signing, timestamps
from proxy.evidence.chain import Head
from proxy.ops.metrics import Metrics
from proxy.settings import Settings
from proxy.store.documents import DocumentStore
from proxy.store.keys import load_private_key
from proxy.store.logwriter import LogWriter

log = logging.getLogger(__name__)

Post = Callable[[str, bytes, float], bytes]
_MAX_REPLY = 1 << 20
_SHUTDOWN_TIMEOUT = 5.0  # at shutdown, one try per TSA, no longer than this


def post(url: str, query: bytes, timeout: float) -> bytes:
    """POST a timestamp query; the reply's body, OSError on any failure."""
    request = urllib.request.Request(  # noqa: S310 - the operator's configured http(s) URL
        url, data=query, headers={"Content-Type": timestamps.CONTENT_TYPE}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
        return bytes(reply.read(_MAX_REPLY))


class Checkpointer:
    def __init__(
        self,
        writer: LogWriter,
        state: Path,
        tsas: Sequence[str],
        interval: float,
        metrics: Metrics,
        signer: Ed25519PrivateKey | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        retry_delay: float = 2.0,
        send: Post = post,
    ) -> None:
        self.writer, self.tsas, self.interval, self.metrics = writer, tuple(tsas), interval, metrics
        self.signer, self.timeout, self.attempts, self.retry_delay = (
            signer, timeout, attempts, retry_delay
        )  # fmt: skip
        self.send = send
        self.tokens = DocumentStore(state, checkpoints.TOKENS_DIR)
        self._last = 0  # the sequence of our own last checkpoint record
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="optout-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write the shutdown checkpoint (bounded), then end the thread."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._guarded(final=False)
        self._guarded(final=True)

    def _guarded(self, final: bool) -> None:
        try:
            self.checkpoint(final)
        except Exception:  # a bug here must not end the timer, nor the proxy
            log.exception("checkpoint failed")

    def checkpoint(self, final: bool = False) -> bool:
        """One round; False when nothing was written since the last checkpoint."""
        head = self.writer.current_head()
        if head.sequence == 0 or head.sequence == self._last:
            return False
        statement = checkpoints.statement(head)
        stamps, failures = self._stamp_all(head, final)
        signature = signing.sign(self.signer, statement) if self.signer is not None else None
        self.writer.write(checkpoints.record(head, stamps, failures, signature, time.time()))
        self._last = self.writer.current_head().sequence
        result = "gap" if failures and not stamps else ("timestamped" if stamps else "signed")
        self.metrics.checkpoints.labels(result).inc()
        if result == "gap":
            log.warning(
                "checkpoint of record %d has no trusted time: %s",
                head.sequence,
                "; ".join(f"{f.tsa}: {f.error}" for f in failures),
            )
        return True

    def _stamp_all(
        self, head: Head, final: bool
    ) -> tuple[list[checkpoints.Stamp], list[checkpoints.Failure]]:
        stamps: list[checkpoints.Stamp] = []
        failures: list[checkpoints.Failure] = []
        for url in self.tsas:
            found = self._stamp(url, checkpoints.imprint(head), final)
            if isinstance(found, checkpoints.Stamp):
                stamps.append(found)
            else:
                failures.append(found)
        return stamps, failures

    def _stamp(
        self, url: str, imprint: bytes, final: bool
    ) -> checkpoints.Stamp | checkpoints.Failure:
        tries = 1 if final else self.attempts
        timeout = min(self.timeout, _SHUTDOWN_TIMEOUT) if final else self.timeout
        host = urlsplit(url).hostname or url
        error = ""
        for attempt in range(1, tries + 1):
            nonce = timestamps.new_nonce()
            try:
                reply = self.send(url, timestamps.build_request(imprint, nonce), timeout)
                token = timestamps.parse_reply(reply, imprint, nonce)
            except (OSError, urllib.error.URLError, timestamps.TimestampError) as e:
                error = str(e) or type(e).__name__
                self.metrics.timestamps.labels(host, "failure").inc()
                if attempt < tries and self._stop.wait(self.retry_delay * attempt):
                    break  # shutting down: the shutdown checkpoint tries again
                continue
            self.metrics.timestamps.labels(host, "success").inc()
            self.metrics.last_timestamp.set(time.time())
            sha = self.tokens.put(token.der, "timestamp token")
            return checkpoints.Stamp(url, sha, token.gen_time, token.serial)
        return checkpoints.Failure(url, error, attempt)


def load_signer(state: Path) -> Ed25519PrivateKey | None:
    """The label's checkpoint key, if `optout logs keygen` made one; ValueError if damaged."""
    path, _ = signing.paths(state)
    if not path.exists():
        return None
    return load_private_key(path)


def public_pem(state: Path) -> bytes | None:
    """The public half of the checkpoint key, as published; None without a key."""
    signer = load_signer(state)
    return signing.public_pem(signer.public_key()) if signer is not None else None


def start(settings: Settings, writer: LogWriter, metrics: Metrics) -> Checkpointer | None:
    """The running checkpointer; None when there is neither a TSA nor a signing key."""
    signer = load_signer(settings.state)
    if not settings.tsa and signer is None:
        return None
    checkpointer = Checkpointer(
        writer,
        settings.state,
        settings.tsa,
        settings.checkpoint_interval,
        metrics,
        signer,
        timeout=settings.tsa_timeout,
    )
    checkpointer.start()
    return checkpointer
