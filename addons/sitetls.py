"""SiteTls: TLS termination with the sites' own certificates, and nothing else.

mitmproxy's TlsConfig answers every ClientHello: it looks the SNI up among the
`certs` it was given and, failing that, mints a certificate with its own CA
(`tls_start_client` → `get_cert` → `CertStore.get_cert`). A reverse proxy in
front of a label's sites must never do that. This subclass takes TlsConfig's
place and decides first:

- a ClientHello on the plain listener, on any listener when `--tls` is off, or
  with an SNI that no site with a `tls:` certificate names (no SNI: the
  `default: true` site, if it has one) gets a TLS context without any
  certificate: the handshake fails with an alert and mitmproxy closes the
  connection. (Providing no context at all is what mitmproxy documents, but
  12.3 then leaves the socket open in CLOSE-WAIT: a leak a scanner could use.)
- otherwise `get_cert` returns that site's certificate; mitmproxy's certificate
  store is never consulted for clients, so it cannot mint one.

The rest (ciphers, ALPN so HTTP/2 works, upstream TLS) is TlsConfig's. The
certificates come from the rules in force, so a reload swaps them too. The
chain (without the key) is written to the state directory because OpenSSL
builds the chain it sends from a file.

TlsConfig would also create mitmproxy's CA (a private key in the state dir) and
answer `GET …/mitmproxy-<serial>.crl` with its revocation list. Neither is ever
used here, so neither exists: the store keeps only the DH parameters.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography import x509
from mitmproxy import certs, ctx, http, tls
from mitmproxy.addons import tlsconfig
from mitmproxy.proxy import context
from OpenSSL import SSL

from proxy.config.certificates import Certificate
from proxy.config.sites import Site, host_of
from proxy.engine.pipeline import Pipeline

log = logging.getLogger(__name__)
# The options for which TlsConfig.configure would build its CertStore (and a CA).
_STORE_OPTIONS = {"certs", "confdir", "key_size", "cert_passphrase", "emudhra", "emudhra_old"}


class NoCertStore:
    """What TlsConfig needs of its CertStore when no certificate is ever minted."""

    def __init__(self, dhparams: certs.DHParams) -> None:
        self.dhparams = dhparams


class SiteTls(tlsconfig.TlsConfig):
    def __init__(self, pipeline: Pipeline, state: Path, tls_listener: str | None) -> None:
        """`tls_listener` is the mode spec of the https listener, None when TLS is off."""
        super().__init__()
        self.pipeline = pipeline
        self.chains = state / "tls"
        self.tls_listener = tls_listener
        self._entries: dict[str, certs.CertStoreEntry] = {}

    def configure(self, updated: set[str] | str) -> None:
        # TlsConfig.running() calls configure("confdir") with a bare string.
        keys = {updated} if isinstance(updated, str) else set(updated)
        if keys & _STORE_OPTIONS:
            confdir = Path(ctx.options.confdir).expanduser()
            confdir.mkdir(parents=True, exist_ok=True)
            dhparams = certs.CertStore.load_dhparam(confdir / "mitmproxy-dhparam.pem")
            self.certstore = NoCertStore(dhparams)  # type: ignore[assignment]
        super().configure(keys - _STORE_OPTIONS)

    def request(self, flow: http.HTTPFlow) -> None:
        """No CA, so no revocation list to serve (TlsConfig.request would)."""

    def site_for(self, conn_context: context.Context) -> Site | None:
        """The site whose certificate this client gets, or None to refuse it."""
        client = conn_context.client
        sites = self.pipeline.ruleset.sites
        if self.tls_listener is None or sites is None:
            return None
        if client.proxy_mode.full_spec != self.tls_listener:
            return None
        site = sites.match(host_of(client.sni)) if client.sni else sites.default
        return site if site is not None and site.tls is not None else None

    def tls_start_client(self, tls_start: tls.TlsData) -> None:
        if tls_start.ssl_conn is not None:
            return
        if self.site_for(tls_start.context) is None:
            client = tls_start.context.client
            log.info("TLS refused: no site for SNI %r from %s", client.sni, client.peername)
            tls_start.ssl_conn = refusal()
            return
        super().tls_start_client(tls_start)

    def get_cert(self, conn_context: context.Context) -> certs.CertStoreEntry:
        site = self.site_for(conn_context)
        if site is None or site.tls is None:  # tls_start_client refused it already
            raise ValueError("no site certificate for this connection")
        return self._entry(site.tls)

    def _entry(self, cert: Certificate) -> certs.CertStoreEntry:
        entry = self._entries.get(cert.fingerprint)
        if entry is None:
            chain = [certs.Cert(c) for c in x509.load_pem_x509_certificates(cert.chain_pem)]
            key = certs.load_pem_private_key(cert.key_pem, None)
            path = self._write_chain(cert)
            entry = self._entries[cert.fingerprint] = certs.CertStoreEntry(
                chain[0], key, path, chain
            )
        return entry

    def _write_chain(self, cert: Certificate) -> Path:
        """The certificate chain (public, no key) in a file OpenSSL can read."""
        self.chains.mkdir(parents=True, exist_ok=True)
        path = self.chains / f"{cert.fingerprint}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(cert.chain_pem)
        return path


def refusal() -> SSL.Connection:
    """A server side with no certificate: any handshake fails, nothing is sent but an alert."""
    connection = SSL.Connection(SSL.Context(SSL.TLS_SERVER_METHOD))
    connection.set_accept_state()
    return connection
