"""Many local TLS endpoints in one process: port BASE+i serves host i's chain, and port
DELAYED_BASE+i the same through a link with added latency.

    python -m benchmarks.tls_farm DIR COUNT BASE_PORT DELAYED_BASE HANG_PORT ONE_WAY_MS

`DIR` holds `chain<i>.pem` (leaf first, then the intermediates) and `key<i>.pem` for each
i < COUNT (`write_farm` makes them). `HANG_PORT` accepts TCP connections and never
answers. One asyncio loop serves them all on 127.0.0.1; it prints `ready` once every
port listens and stops when its standard input closes. A process of its own, so that the
servers' handshakes do not share the measured client's interpreter.

The latency is added in user space because this machine's kernel has no netem (nor any
other delaying qdisc): a relay holds every chunk ONE_WAY_MS in each direction, and the
client's first chunk one round trip more, for the TCP handshake the kernel completed at
once (both clients measured send their ClientHello right after connecting). A client
thus waits what it would wait behind netem's `delay ONE_WAY_MS` on both sides: one round
trip to connect and one per TLS flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests import pki_factory as pki

HOST_SUFFIX = "farm.example.test"


def host(i: int) -> str:
    return f"e{i}.{HOST_SUFFIX}"


def write_farm(directory: Path, count: int) -> Path:
    """A root, two intermediates and `count` leaves, one per host; returns the root's
    PEM file (the clients' trust store)."""
    chain = pki.build_chain([host(0)], depth=2, prefix="Farm", ca_issuers_url=None)
    served_intermediates = tuple(i.cert for i in reversed(chain.intermediates))
    for i in range(count):
        leaf = chain.leaf if i == 0 else pki.make_leaf(chain.intermediates[-1], [host(i)])
        pki.write_pem(directory / f"chain{i}.pem", leaf.cert, *served_intermediates)
        pki.write_key(directory / f"key{i}.pem", leaf.key)
    return pki.write_pem(directory / "root.pem", chain.root.cert)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After the handshake: wait briefly for the client to speak or leave, then close."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.read(1), timeout=2)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and say nothing until the client gives up."""
    with contextlib.suppress(Exception):
        await reader.read()
    writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, first_extra: float
) -> None:
    """Copy reader to writer, each chunk `delay` seconds late (the first `first_extra`
    more), in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                with contextlib.suppress(Exception):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    delivering = asyncio.ensure_future(deliver())
    extra = first_extra
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay + extra, data))
            extra = 0.0
            if not data:
                break
        await delivering
    except Exception:
        delivering.cancel()


def _relay(target_port: int, delay: float) -> Callable[..., Awaitable[None]]:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pump(reader, up_writer, delay, 2 * delay), _pump(up_reader, writer, delay, 0.0)
        )
        for w in (writer, up_writer):
            w.close()

    return relay


async def serve(
    directory: Path, count: int, base_port: int, delayed_base: int, hang_port: int, delay: float
) -> None:
    servers = []
    for i in range(count):
        servers.append(
            await asyncio.start_server(
                _relay(base_port + i, delay), "127.0.0.1", delayed_base + i, backlog=128
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / f"chain{i}.pem", directory / f"key{i}.pem")
        servers.append(
            await asyncio.start_server(
                _answer, "127.0.0.1", base_port + i, ssl=context, backlog=128
            )
        )
    servers.append(await asyncio.start_server(_hang, "127.0.0.1", hang_port))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it
    for server in servers:
        server.close()


def main(argv: list[str]) -> int:
    directory, count, base_port, delayed_base, hang_port, one_way_ms = (
        Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    )  # fmt: skip
    asyncio.run(serve(directory, count, base_port, delayed_base, hang_port, one_way_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
