#!/usr/bin/env python3
"""Regenerate rules/tls/clients.yaml: the JA4 of real clients, seen by the real proxy.

    .venv/bin/python scripts/tls_fingerprints.py [--out rules/tls/clients.yaml]

Starts the proxy on loopback with its TLS listener (a throwaway self-signed
certificate for localhost) in front of a tiny upstream, has every client found
on this machine fetch https://localhost:PORT/?client=NAME, and reads each JA4
from the access log (tls.client.ja4), so the table holds what the proxy itself
computes. Clients that are not installed are skipped and listed, and the rows
they were seen sending are kept from the table being replaced. Browser rows
recorded by curl-impersonate and the library rows of FoxIO's JA4 mapping
(../shared/corpus/tls/, both JA4 TLS-client data only) are added with --corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "tls"
PY = sys.executable
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
JAVA = """
import java.net.URI;
import java.net.http.*;
import javax.net.ssl.*;
import java.security.cert.X509Certificate;
public class Fetch {
  public static void main(String[] a) throws Exception {
    TrustManager[] all = { new X509TrustManager() {
      public void checkClientTrusted(X509Certificate[] c, String s) {}
      public void checkServerTrusted(X509Certificate[] c, String s) {}
      public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; } } };
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, all, null);
    HttpClient c = HttpClient.newBuilder().sslContext(ctx).build();
    HttpRequest r = HttpRequest.newBuilder(URI.create(a[0])).build();
    c.send(r, HttpResponse.BodyHandlers.ofString());
  }
}
"""
GO = """package main

import ("crypto/tls"; "net/http"; "os")

func main() {
  c := &tls.Config{InsecureSkipVerify: true}
  t := &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}
  r, err := (&http.Client{Transport: t}).Get(os.Args[1])
  if err != nil { panic(err) }
  r.Body.Close()
}
"""


@dataclass(frozen=True)
class Client:
    name: str  # as in ?client= and the table's `seen`
    family: str  # optout.client_family: the TLS stack, which is what a JA4 names
    kind: str  # browser, library or tool
    needs: str  # the command or module that must exist
    argv: tuple[str, ...]  # {url} and {dir} are filled in
    stays: bool = False  # runs until stopped (a headed browser): stopped once logged


def _py(code: str) -> tuple[str, ...]:
    return (PY, "-c", code, "{url}")


CLIENTS = (
    Client("curl", "curl", "tool", "curl", ("curl", "-sk", "-o", "/dev/null", "{url}")),
    Client(
        "python-requests",
        "python",
        "library",
        "requests",
        _py(
            "import requests,sys,urllib3; urllib3.disable_warnings(); "
            "requests.get(sys.argv[1], verify=False)"
        ),
    ),
    Client(
        "python-urllib3",
        "python",
        "library",
        "urllib3",
        _py(
            "import urllib3,sys; urllib3.disable_warnings(); "
            "urllib3.PoolManager(cert_reqs='CERT_NONE').request('GET', sys.argv[1])"
        ),
    ),
    Client(
        "python-aiohttp",
        "python",
        "library",
        "aiohttp",
        _py(
            "import aiohttp,asyncio,sys\n"
            "async def main():\n"
            "    async with aiohttp.ClientSession() as s:\n"
            "        async with s.get(sys.argv[1], ssl=False) as r: await r.read()\n"
            "asyncio.run(main())"
        ),
    ),
    Client(
        "python-httpx",
        "python",
        "library",
        "httpx",
        _py("import httpx,sys; httpx.get(sys.argv[1], verify=False)"),
    ),
    Client("go-net-http", "go", "library", "go", ("go", "run", "{dir}/fetch.go", "{url}")),
    Client(
        "node-fetch",
        "node",
        "library",
        "node",
        (
            "node",
            "-e",
            "process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';fetch(process.argv[1]).then(r=>r.text())",
            "{url}",
        ),
    ),
    Client("java-httpclient", "java", "library", "java", ("java", "{dir}/Fetch.java", "{url}")),
    Client(
        "chromium-headless",
        "chromium",
        "browser",
        "chromium",
        (
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--ignore-certificate-errors",
            "--user-data-dir={dir}/chromium",
            "--dump-dom",
            "{url}",
        ),
    ),
    # A normal (headed) Chromium, on a virtual display: the JA4 a person's Chromium sends.
    Client(
        "chromium",
        "chromium",
        "browser",
        "xvfb-run",
        (
            "xvfb-run",
            "-a",
            "chromium",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--ignore-certificate-errors",
            "--user-data-dir={dir}/chromium-headed",
            "{url}",
        ),
        stays=True,
    ),
    Client(
        "firefox-headless",
        "firefox",
        "browser",
        "firefox",
        ("firefox", "--headless", "--screenshot", "{dir}/ff.png", "{url}"),
    ),
) + tuple(
    Client(
        f"curl-cffi-{target}",
        family,
        "tool" if family == "curl-cffi" else "browser",
        "curl_cffi",
        _py(
            "import sys; from curl_cffi import requests; "
            f"requests.get(sys.argv[1], impersonate='{target}', verify=False)"
        ),
    )
    # curl-cffi 0.17's Chrome and Safari JA4s are those browsers' own (so they are the
    # browser rows). Its Firefox 135 and 144 targets send NSS's ciphers and give the JA4
    # recorded from those Firefoxes; its default (newest) Firefox target sends BoringSSL's
    # and matches no recorded Firefox: a tool's, not a browser's.
    for target, family in (
        ("chrome", "chromium"),
        ("firefox", "curl-cffi"),
        ("safari", "safari"),
        ("firefox135", "firefox"),
        ("firefox144", "firefox"),
    )
)


def available(client: Client) -> bool:
    if client.argv[0] == PY:
        probe = subprocess.run([PY, "-c", f"import {client.needs}"], capture_output=True)
        return probe.returncode == 0
    return shutil.which(client.needs) is not None


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem, key_pem = directory / "cert.pem", directory / "cert.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem, key_pem


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><head><title>t</title></head><body>ok</body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_proxy(tmp: Path, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    cert, key = self_signed(tmp)
    (rules / "sites.yaml").write_text(
        f"sites:\n  - hosts: [localhost]\n    upstream: {upstream}\n    default: true\n"
        f"    tls: {{cert: {cert}, key: {key}}}\n"
    )
    env = {
        **os.environ,
        "OPTOUT_VERIFY_DNS": "off",
        "OPTOUT_ADMIN": "off",
        "OPTOUT_WEB_BOT_AUTH": "off",
        "HOME": str(tmp),
    }
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "proxy",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            f"127.0.0.1:{free_port()}",
            "--rules",
            str(rules),
            "--log",
            str(tmp / "access.jsonl"),
            "--state",
            str(tmp / "state"),
        ],
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    found = re.search(r", https://([\d.]+:\d+)", line)
    if found is None:
        proc.kill()
        raise SystemExit(f"the proxy did not start with TLS: {line}")
    return proc, found.group(1)


def capture(clients: list[Client], tmp: Path) -> tuple[dict[str, str], list[str]]:
    """{client name: JA4} as the proxy logged it, and what failed."""
    (tmp / "Fetch.java").write_text(JAVA)
    (tmp / "fetch.go").write_text(GO)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy, https = start_proxy(tmp, f"http://127.0.0.1:{server.server_address[1]}")
    port = https.rsplit(":", 1)[1]
    failed: list[str] = []
    try:
        for client in clients:
            url = f"https://localhost:{port}/?client={client.name}"
            argv = [a.replace("{url}", url).replace("{dir}", str(tmp)) for a in client.argv]
            env = {**os.environ, "GOCACHE": str(tmp / "go"), "GOPATH": str(tmp / "gopath")}
            if client.stays:
                if not run_until_logged(argv, env, tmp / "access.jsonl", f"client={client.name}"):
                    failed.append(f"{client.name}: no request logged within 60 s")
                continue
            done = subprocess.run(argv, capture_output=True, timeout=120, env=env)
            if done.returncode != 0:
                failed.append(f"{client.name}: {done.stderr.decode(errors='replace')[-200:]}")
    finally:
        proxy.terminate()
        proxy.wait(20)
        server.shutdown()
    seen: dict[str, str] = {}
    for line in (tmp / "access.jsonl").read_text().splitlines():
        record = json.loads(line)
        query = record.get("url", {}).get("query", "")
        ja4 = record.get("tls", {}).get("client", {}).get("ja4")
        if query.startswith("client=") and ja4:
            seen.setdefault(query.removeprefix("client="), ja4)
    return seen, failed


def run_until_logged(argv: list[str], env: dict[str, str], log: Path, query: str) -> bool:
    """Start `argv`, wait until the proxy has logged a request with `query`, stop it all."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and f'"query":"{query}"' in log.read_text():
                return True
            time.sleep(0.25)
        return False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # xvfb-run, Xvfb and the browser's processes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def corpus_rows(corpus: Path) -> list[tuple[str, str, str, str]]:
    """(ja4, family, kind, seen) from the shared corpus: recorded browsers, FoxIO's libraries."""
    rows = []
    families = {
        "chrome": "chromium",
        "edge": "chromium",
        "firefox": "firefox",
        "safari": "safari",
        "tor": "firefox",
    }
    for row in csv.DictReader((corpus / "curl-impersonate-browser-ja4.csv").open()):
        family = families.get(row["browser"].lower())
        if family:
            rows.append((row["ja4"], family, "browser", f"{row['browser']} {row['version']}"))
    apps = {"chromium browser": "chromium", "mozilla firefox": "firefox", "safari": "safari"}
    for row in csv.DictReader((corpus / "foxio-ja4-mapping.csv").open()):
        library, app = row["Library"].lower(), row["Application"].lower()
        if not row["ja4"].startswith("t"):
            continue  # QUIC: the TLS listener never sees it
        if library in ("python", "golang") and not app:
            family = "go" if library == "golang" else library
            rows.append((row["ja4"], family, "library", f"{row['Library']} (FoxIO mapping)"))
        elif app in apps:
            rows.append((row["ja4"], apps[app], "browser", f"{row['Application']} (FoxIO mapping)"))
    return rows


def kept_rows(path: Path, names: set[str]) -> list[tuple[str, str, str, str]]:
    """The rows of the table at `path` that clients in `names` (not installed here) were seen
    sending: a regeneration on a machine without Go keeps Go's row from the last one."""
    if not path.is_file():
        return []
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    return [
        (entry["ja4"], entry["family"], entry["kind"], seen)
        for entry in data.get("clients", [])
        for seen in entry.get("seen", [])
        if seen in names
    ]


def table(rows: list[tuple[str, str, str, str]]) -> str:
    merged: dict[str, dict[str, object]] = {}
    for ja4, family, kind, seen in rows:
        entry = merged.setdefault(ja4, {"family": family, "kind": kind, "seen": []})
        if entry["family"] != family:
            continue  # first source wins: the local capture comes first
        assert isinstance(entry["seen"], list)
        if seen not in entry["seen"]:
            entry["seen"].append(seen)
    today = datetime.date.today().isoformat()
    lines = [
        "# JA4 (TLS client) fingerprints of real clients: which TLS stack a request used.",
        f"# Generated by scripts/tls_fingerprints.py on {today}; regenerate, do not edit.",
        "# A JA4 names the TLS library, not the product: every Chromium shares one, and",
        "# curl-cffi/curl-impersonate copy browsers' on purpose. Sources: local captures",
        "# through the proxy, curl-impersonate's recorded browsers (MIT) and FoxIO's JA4",
        "# mapping (JA4 is BSD-3-Clause, Copyright (c) 2026 FoxIO).",
        "clients:",
    ]
    for ja4, entry in sorted(merged.items(), key=lambda kv: (str(kv[1]["family"]), kv[0])):
        seen = ", ".join(json.dumps(s) for s in entry["seen"])  # type: ignore[attr-defined]
        lines += [
            f"  - ja4: {ja4}",
            f"    family: {entry['family']}",
            f"    kind: {entry['kind']}",
            f"    seen: [{seen}]",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "rules" / "tls" / "clients.yaml")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="'' to leave it out")
    args = parser.parse_args()
    clients = [c for c in CLIENTS if available(c)]
    skipped = [c.name for c in CLIENTS if c not in clients]
    with tempfile.TemporaryDirectory() as tmp:
        seen, failed = capture(clients, Path(tmp))
    by_name = {c.name: c for c in clients}
    rows = [(ja4, by_name[n].family, by_name[n].kind, n) for n, ja4 in sorted(seen.items())]
    rows += kept_rows(args.out, set(skipped))
    if str(args.corpus) and args.corpus.is_dir():
        rows += corpus_rows(args.corpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table(rows))
    for name, ja4 in sorted(seen.items()):
        print(f"{name:22} {ja4}")
    print(f"skipped (not installed; their rows kept): {', '.join(skipped) or 'none'}")
    for failure in failed:
        print(f"failed: {failure}", file=sys.stderr)


if __name__ == "__main__":
    main()
