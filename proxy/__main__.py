"""`python -m proxy` is the `optout` command."""

from __future__ import annotations

import sys

from proxy.cli.main import main

sys.exit(main())
