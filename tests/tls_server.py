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

import socket
import ssl
import tempfile
import threading
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
