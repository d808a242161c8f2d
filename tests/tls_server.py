"""Local TLS servers for tests: serve any certificate list, on 127.0.0.1, in a thread.

A test that checks what a client sees needs a server that serves exactly the chain the
test chose: the leaf alone, intermediates out of order, an extra root, an expired
certificate, or only TLS 1.0. `TLSServer` uses the standard library's `ssl` (so the
system OpenSSL, independent of the client under test) and sends the certificates in
the given order: the first must be the one `key` belongs to.

    with TLSServer([leaf, intermediate], key) as server:
        ... connect to 127.0.0.1:server.port ...

`SilentServer` accepts TCP connections and never answers (for timeouts).
"""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tests import pki_factory


class _Listener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0

    @property
    def address(self) -> str:
        """ "127.0.0.1:PORT", as `--connect` takes it."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError


class TLSServer(_Listener):
    """Serves `certificates` (leaf first, then the rest in the given order) with `key`.

    `lenient` lets the server use keys and signatures below OpenSSL's default security
    level; `client_certificate` (CERT_OPTIONAL or CERT_REQUIRED) asks clients for a
    certificate. `versions` pins the protocol range, e.g. (TLSVersion.TLSv1, TLSVersion.TLSv1) for
    a TLS 1.0-only server; that also lowers OpenSSL's security level so old versions
    can be negotiated at all. `handshakes` counts completed handshakes, `server_names`
    records the SNI of each ClientHello (None when the client sent none).
    """

    def __init__(
        self,
        certificates: Sequence[x509.Certificate],
        key: PrivateKeyTypes,
        *,
        versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
        lenient: bool = False,
        client_certificate: ssl.VerifyMode = ssl.CERT_NONE,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.handshakes = 0
        self.server_names: list[str | None] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="tls-server-")
        cert_file = Path(self._tmp.name) / "chain.pem"
        key_file = Path(self._tmp.name) / "key.pem"
        cert_file.write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
        )
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if lenient:
            # Serve what a client must judge (a 1024-bit key, a SHA-1 signature): the
            # server's own OpenSSL would refuse to load them at its default level.
            self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if client_certificate is not ssl.CERT_NONE:
            self.context.verify_mode = client_certificate
            self.context.load_verify_locations(cadata=self._own_ca(certificates))
        # The chain file is sent as is: the context has no CA store from which OpenSSL
        # could complete a chain on its own.
        self.context.load_cert_chain(cert_file, key_file)
        self.context.sni_callback = self._record_sni
        if versions is not None:
            self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
            self.context.minimum_version, self.context.maximum_version = versions

    @staticmethod
    def _own_ca(certificates: Sequence[x509.Certificate]) -> str:
        # Any CA will do: no test client sends a certificate.
        return certificates[-1].public_bytes(serialization.Encoding.PEM).decode()

    def __enter__(self) -> TLSServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._tmp.cleanup()

    def _record_sni(self, _: ssl.SSLObject, server_name: str | None, __: ssl.SSLContext) -> None:
        self.server_names.append(server_name)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                tls.recv(1)  # until the client closes
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


class SilentServer(_Listener):
    """Accepts connections and says nothing until the client gives up."""

    def __enter__(self) -> SilentServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            conn.recv(65536)
            conn.recv(1)
        except OSError:
            pass
        finally:
            conn.close()


def tls_version_supported(version: ssl.TLSVersion) -> str | None:
    """None if this machine's `ssl` can negotiate `version` with itself, else why not.

    Tests of TLS 1.0/1.1 servers skip with this reason where the system OpenSSL was
    built or configured without them.
    """
    leaf = pki_factory.make_self_signed_leaf(["localhost"])
    try:
        server = TLSServer([leaf.cert], leaf.key, versions=(version, version))
    except (ssl.SSLError, ValueError) as error:
        return f"{ssl.OPENSSL_VERSION} cannot serve {version.name}: {error}"
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    try:
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        client.minimum_version = client.maximum_version = version
    except (ssl.SSLError, ValueError) as error:
        return f"{ssl.OPENSSL_VERSION} cannot offer {version.name}: {error}"
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        try:
            with client.wrap_socket(raw, server_hostname="localhost") as tls:
                if tls.version() is None:
                    return f"{ssl.OPENSSL_VERSION} negotiated nothing for {version.name}"
        except (ssl.SSLError, OSError) as error:
            return f"{ssl.OPENSSL_VERSION} cannot negotiate {version.name}: {error}"
    return None


class WebhookReceiver(TLSServer):
    """A webhook receiver over HTTPS that answers senders' validation requests.

    `echo` names the handshake it answers ("ringcentral": the Validation-Token header;
    "msgraph": the validationToken query parameter as a text/plain body; "slack": the
    url_verification challenge), or None to echo nothing; `status` and `delay` (seconds
    before answering) make slow or failing receivers. `requests` records (method,
    target, headers) of each HTTP request; TLS-only connections (the probe's) record
    nothing.
    """

    def __init__(
        self,
        certificates: Sequence[x509.Certificate],
        key: PrivateKeyTypes,
        *,
        echo: str | None,
        status: int = 200,
        delay: float = 0.0,
    ) -> None:
        super().__init__(certificates, key)
        self.echo, self.status, self.delay = echo, status, delay
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                request = _read_request(tls)
                if request is None:
                    return
                method, target, headers, body = request
                self.requests.append((method, target, headers))
                time.sleep(self.delay)
                tls.sendall(self._answer(target, headers, body))
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _answer(self, target: str, headers: dict[str, str], body: bytes) -> bytes:
        extra, content, content_type = "", b"ok", "application/json"
        if self.echo == "ringcentral":
            extra = f"Validation-Token: {headers.get('validation-token', '')}\r\n"
        elif self.echo == "msgraph":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            content, content_type = query["validationToken"][0].encode(), "text/plain"
        elif self.echo == "slack":
            content = json.loads(body)["challenge"].encode()
            content_type = "text/plain"
        return (
            f"HTTP/1.1 {self.status} X\r\nContent-Type: {content_type}\r\n{extra}"
            f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
        ).encode() + content


def _read_request(tls: ssl.SSLSocket) -> tuple[str, str, dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = tls.recv(4096)
        if not chunk:
            break
        body += chunk
    return method, target, headers, body
