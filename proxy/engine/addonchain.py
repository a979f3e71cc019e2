"""Where the runner gets our addons from: the `addons` package, by its entry point.

`addons/` imports the core, so the core must not import `addons/`. The package
registers what the runner needs (`AddonChain`) under the entry point group
`optout_proxy`, name `addons` (pyproject.toml), and the runner loads it here,
the way mitmproxy loads scripts: the dependency points one way only.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from proxy.engine.pipeline import Pipeline
from proxy.errors import SettingsError

GROUP = "optout_proxy"
NAME = "addons"

# (peer address, status, the bytes read of the head) for a head refused unparsed.
Refused = Callable[[Any, int, bytes], None]


class AddonChain(Protocol):
    """What the runner asks of the addons package."""

    def pipeline(self, pipeline: Pipeline) -> list[Any]:
        """The request pipeline's addons, in the order they run."""
        ...

    def tls(self, pipeline: Pipeline, state: Path, listener: str | None) -> Any:
        """TLS termination with the sites' certificates (on `listener`, if any)."""
        ...

    def refused(self, pipeline: Pipeline) -> Refused:
        """The callback that logs a request head refused before it was parsed."""
        ...


def load() -> AddonChain:
    """The installed chain. SettingsError if the package was not installed."""
    found = entry_points(group=GROUP, name=NAME)
    if not found:
        raise SettingsError(
            f"the proxy's addons are not installed (no entry point {NAME!r} in group "
            f"{GROUP!r}): install the package with 'make install' or 'pip install .'"
        )
    chain: AddonChain = next(iter(found)).load()
    return chain
