"""Small real media, made here with sox and Pillow, and a web root and rules to stamp."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from makers import make_audio, make_image
from paths import RULES

from proxy.cli.main import main


@pytest.fixture
def web(tmp_path: Path) -> Path:
    """A web root: /media/ (reserved) and /press/ (not, in the rules below)."""
    root = tmp_path / "web"
    (root / "media").mkdir(parents=True)
    (root / "press").mkdir()
    for name in ("preview.mp3", "preview.flac", "preview.wav"):
        make_audio(root / "media" / name)
    make_image(root / "media" / "cover.jpg")
    make_image(root / "media" / "cover.png")
    make_image(root / "press" / "photo.jpg")
    return root


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The shipped rules, with the press kit free for text and data mining."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    policy = target / "policy.yaml"
    text = policy.read_text()
    marker = "  content_usage:\n    train-ai: n\n"
    assert marker in text
    policy.write_text(
        text.replace(
            marker,
            marker + "  overrides:\n    - {name: press-kit, path: /press/, reserved: false}\n",
        )
    )
    return target


@pytest.fixture(scope="session")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A test chain and key made by `optout media keygen`."""
    out = tmp_path_factory.mktemp("keys")
    assert main(["media", "keygen", "--out", str(out), "--name", "Northern Lights Records"]) == 0
    return out / "media-cert.pem", out / "media-key.pem"
