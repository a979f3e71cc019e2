"""What the container image runs, without a container engine.

The project's wheel is built from the files the Dockerfile's builder stage
copies, with the builder's own pip commands; it is installed into a clean
virtual environment with the final stage's pip command, and started from a
directory outside the source tree with the environment the Dockerfile sets.
The upstream is the demo site, started as docker-compose.yml starts it.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
import pytest
from paths import ROOT, RULES
from ruamel.yaml import YAML

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"

Instruction = tuple[str, str]  # (INSTRUCTION, its arguments)


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, stage by stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[Instruction]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), args.strip()))
    return stages


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in arguments(dockerfile_stages()[-1], "ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            env[name] = value
    return env


def builder_context(dest: Path) -> Path:
    """A build context holding what the builder stage copies (the .dockerignore'd tree)."""
    dest.mkdir()
    for args in arguments(dockerfile_stages()[0], "COPY"):
        *sources, _ = shlex.split(args)
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(path, dest / source, ignore=ignore)
            else:
                shutil.copy2(path, dest / source)
    return dest


def builder_paths(context: Path, wheels: Path) -> dict[str, Path]:
    """Where the builder stage's directories are here: /wheels, and its WORKDIR (the context)."""
    (workdir,) = arguments(dockerfile_stages()[0], "WORKDIR")
    return {"/wheels": wheels, workdir: context}


def mounts(words: list[str], builder: dict[str, Path]) -> dict[str, str]:
    """Mount target → local path, for each `--mount=type=bind,from=builder,...` of a RUN."""
    found = {}
    for word in words:
        if not word.startswith("--mount="):
            continue
        options = dict(o.split("=", 1) for o in word.removeprefix("--mount=").split(","))
        assert options.get("from") == "builder", word
        source = PurePosixPath(options["source"])
        (local,) = [
            path / source.relative_to(root)
            for root, path in builder.items()
            if source.is_relative_to(root)
        ]
        found[options["target"]] = str(local)
    return found


def pip_commands(stage: list[Instruction], builder: dict[str, Path]) -> list[list[str]]:
    """The stage's pip commands (arguments after `pip`), with the builder's paths moved here."""
    commands = []
    for args in arguments(stage, "RUN"):
        moved = {"/wheels": str(builder["/wheels"]), **mounts(shlex.split(args), builder)}
        for command in args.split("&&"):
            words = [w for w in shlex.split(command) if not w.startswith("--mount=")]
            if words and words[0] == "pip":
                commands.append([_moved(w, moved) for w in words[1:]])
    return commands


def _moved(word: str, paths: dict[str, str]) -> str:
    for target, local in paths.items():
        word = word.replace(target, local)
    return word


def run_pip(python: str, words: list[str], cwd: Path) -> None:
    """pip as the shell in the image runs it: patterns are expanded when it starts."""
    argv = [m for w in words for m in (sorted(glob.glob(w)) if "*" in w else [w])]
    subprocess.run([python, "-m", "pip", "-q", *argv], cwd=cwd, check=True)


@dataclass(frozen=True)
class Image:
    wheel: Path
    venv: Path
    home: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    tmp = tmp_path_factory.mktemp("image")
    context = builder_context(tmp / "build")
    wheels = tmp / "wheels"
    paths = builder_paths(context, wheels)
    builder, final = dockerfile_stages()[0], dockerfile_stages()[-1]
    for command in pip_commands(builder, paths):
        run_pip(sys.executable, command, context)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for command in pip_commands(final, paths):
        run_pip(str(venv / "bin" / "python"), command, tmp)
    (wheel,) = wheels.glob("optout_proxy-*.whl")
    home = tmp / "home"
    home.mkdir()
    return Image(wheel, venv, home)


def run_env(image: Image, tmp: Path, **overrides: str) -> dict[str, str]:
    """The Dockerfile's environment, with its paths and ports moved into `tmp`."""
    rules = tmp / "rules"
    if not rules.exists():
        shutil.copytree(RULES, rules)
    outside = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {
        **outside,
        **image_env(),
        "HOME": str(image.home),
        "OPTOUT_LISTEN": "127.0.0.1:0",
        "OPTOUT_ADMIN": "off",
        "OPTOUT_RULES": str(rules),
        "OPTOUT_LOG": str(tmp / "log" / "access.jsonl"),
        "OPTOUT_STATE": str(tmp / "state"),
        "OPTOUT_VERIFY_DNS": "off",  # no DNS in tests
        **overrides,
    }


def read_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fetch(url: str, user_agent: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"User-Agent": user_agent}) as response:
            return response.status, dict(response.headers), await response.read()


async def start(image: Image, tmp: Path, argv: list[str], env: dict[str, str]) -> Any:
    return await asyncio.create_subprocess_exec(
        *argv, cwd=tmp, env=env, stderr=asyncio.subprocess.PIPE
    )


async def wait_for_line(process: Any, pattern: str) -> str:
    """The first group of `pattern` in the process's standard error."""
    seen = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        match = re.search(pattern, line)
        if match:
            return match.group(1)
        assert line, f"exited without {pattern!r}: {''.join(seen)}"
        seen.append(line)


async def stop(process: Any) -> int:
    """SIGTERM, as a container platform stops the container."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return int(await asyncio.wait_for(process.wait(), 20))


async def start_compose_site(image: Image, tmp: Path) -> tuple[Any, str]:
    """The demo site, run with the entrypoint docker-compose.yml gives it."""
    compose = YAML(typ="safe").load(ROOT / "docker-compose.yml")
    entrypoint = compose["services"]["site"]["entrypoint"]
    assert entrypoint[0] == "python"
    listen = f"127.0.0.1:{free_port()}"
    env = run_env(image, tmp, SITE_LISTEN=listen)
    site = await start(image, tmp, [image.bin("python"), *entrypoint[1:]], env)
    url = f"http://{listen}"
    for _ in range(100):
        try:
            if (await fetch(f"{url}/healthz", BROWSER))[0] == 200:
                return site, url
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError("the compose demo site never answered /healthz")


def test_package_is_imported_from_the_installed_wheel(image: Image, tmp_path: Path) -> None:
    code = "import proxy, addons; print(proxy.__file__); print(addons.__file__)"
    out = subprocess.run(
        [image.bin("python"), "-c", code],
        cwd=tmp_path,
        env=run_env(image, tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for path in out.split():
        assert Path(path).is_relative_to(image.venv)


def test_wheel_holds_the_package_and_demo_assets_but_no_tests_or_rules(image: Image) -> None:
    names = zipfile.ZipFile(image.wheel).namelist()
    top = {PurePosixPath(n).parts[0] for n in names if ".dist-info/" not in n}
    assert top == {"proxy", "addons"}
    assert "proxy/demo/static/media/aurora-cover.png" in names
    assert "proxy/demo/static/templates/base.html" in names
    assert not [n for n in names if n.endswith(".yaml") or "/ipranges/" in n]


def test_wheel_holds_every_file_of_the_packages(image: Image) -> None:
    # A data file the code reads (templates, texts) must be listed in package-data.
    names = set(zipfile.ZipFile(image.wheel).namelist())
    sources = {
        path.relative_to(ROOT).as_posix()
        for package in ("proxy", "addons")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(sources - names) == []


def locked() -> set[str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def test_the_image_make_install_and_ci_install_from_one_lock() -> None:
    builder, final = dockerfile_stages()[0], dockerfile_stages()[-1]
    copied = [shlex.split(args)[:-1] for args in arguments(builder, "COPY")]
    assert any("constraints.txt" in sources for sources in copied)
    paths = builder_paths(Path("/context"), Path("/wheels"))
    resolving = pip_commands(builder, paths)[-1]  # the wheels of every dependency
    installing = pip_commands(final, paths)[-1]
    assert resolving[resolving.index("-c") + 1] == "constraints.txt"
    assert installing[installing.index("-c") + 1] == "/context/constraints.txt"
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # which installs as make install


def test_the_image_holds_the_locked_versions(image: Image) -> None:
    frozen = subprocess.run(
        [image.bin("python"), "-m", "pip", "freeze", "--exclude", "optout-proxy"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "mitmproxy==12.3.1" in frozen
    assert sorted(set(frozen) - locked()) == []


def test_image_copies_the_rules_where_optout_rules_points() -> None:
    final = dockerfile_stages()[-1]
    env = image_env()
    copies = [shlex.split(args) for args in arguments(final, "COPY")]
    assert ["rules/", env["OPTOUT_RULES"] + "/"] in copies
    volumes = " ".join(arguments(final, "VOLUME"))
    for path in (env["OPTOUT_RULES"], str(PurePosixPath(env["OPTOUT_LOG"]).parent)):
        assert f'"{path}"' in volumes
    assert f'"{env["OPTOUT_STATE"]}"' in volumes


def test_image_exposes_and_health_checks_the_configured_ports() -> None:
    final = dockerfile_stages()[-1]
    env = image_env()
    proxy_port = env["OPTOUT_LISTEN"].rpartition(":")[2]
    admin_port = env["OPTOUT_ADMIN"].rpartition(":")[2]
    assert arguments(final, "EXPOSE") == [f"{proxy_port} {admin_port}"]
    (healthcheck,) = arguments(final, "HEALTHCHECK")
    assert f"http://127.0.0.1:{admin_port}/healthz" in healthcheck
    assert arguments(final, "USER") == ["10001:10001"]


async def test_installed_proxy_serves_blocks_and_logs(image: Image, tmp_path: Path) -> None:
    site, site_url = await start_compose_site(image, tmp_path)
    final = dockerfile_stages()[-1]
    (entrypoint,), (command,) = (
        [json.loads(a) for a in arguments(final, kw)] for kw in ("ENTRYPOINT", "CMD")
    )
    assert entrypoint == ["optout"]
    env = run_env(image, tmp_path, OPTOUT_UPSTREAM=site_url)
    proxy = await start(image, tmp_path, [image.bin("optout"), *command], env)
    try:
        base = await wait_for_line(proxy, r"optout-proxy ready on (http://\S+)")
        status, headers, body = await fetch(f"{base}/", BROWSER)
        assert status == 200
        assert headers["tdm-reservation"] == "1"
        assert b"Northern Lights Records" in body
        cover = await fetch(f"{base}/media/aurora-cover.png", BROWSER)
        assert cover[0] == 200
        assert cover[2].startswith(b"\x89PNG")
        status, headers, _ = await fetch(f"{base}/releases/aurora-ep", GPTBOT)
        assert status == 403
        assert headers["tdm-reservation"] == "1"
    finally:
        assert await stop(proxy) == 0
        await stop(site)
    records = read_records(Path(env["OPTOUT_LOG"]))
    seen = [
        (r["user_agent"]["original"], r["http"]["response"]["status_code"], r["optout"]["identity"])
        for r in records
    ]
    assert seen == [(BROWSER, 200, "none"), (BROWSER, 200, "none"), (GPTBOT, 403, "spoofed")]


async def test_installed_demo_command_serves_the_label_site(image: Image, tmp_path: Path) -> None:
    env = run_env(image, tmp_path)
    demo = await start(image, tmp_path, [image.bin("optout"), "demo"], env)
    try:
        base = await wait_for_line(demo, r"is behind (http://\S+)")
        status, headers, body = await fetch(f"{base}/artists/", BROWSER)
        assert status == 200
        assert headers["tdm-reservation"] == "1"
        assert b"Northern Lights Records" in body
    finally:
        assert await stop(demo) == 0
