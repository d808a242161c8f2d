"""A tiny authoritative DNS server on 127.0.0.1 for tests.

It answers A and AAAA queries over UDP from a fixed table, NXDOMAIN for names not in
it, and can be told to stay silent (to test timeouts). It lets tests point the code
under test at "the DNS servers to ask" (`--nameserver`, the operator's setting) and
make made-up host names resolve to local test servers.

    with FakeDNS({"hooks.example.test": ["127.0.0.1"]}) as dns_server:
        resolve_host("hooks.example.test", nameservers=[dns_server.nameserver])
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeDNS:
    def __init__(self, records: Mapping[str, Sequence[str]], *, silent: bool = False) -> None:
        self.records = {name.rstrip(".").lower(): list(addrs) for name, addrs in records.items()}
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """ "127.0.0.1:PORT", as `--nameserver` takes it."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeDNS:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if self.silent:
                continue
            self._sock.sendto(self._answer(query, name, rdtype).to_wire(), peer)

    def _answer(self, query: dns.message.Message, name: str, rdtype: str) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        version = 4 if rdtype == "A" else 6
        matching = [a for a in self.records[name] if ipaddress.ip_address(a).version == version]
        if matching and rdtype in ("A", "AAAA"):
            response.answer.append(
                dns.rrset.from_text_list(query.question[0].name, 60, "IN", rdtype, matching)
            )
        return response
