"""Where the tests find the project's and the shared corpus's files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
SHARED = ROOT.parent / "shared"
