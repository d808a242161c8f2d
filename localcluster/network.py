"""The cluster's private network namespace.

It holds a bridge with the node address, where every cluster listener binds (or on the
namespace's own loopback). Pods get their namespaces and addresses from the node's CNI
bridge plugin (`node.py`), inside this namespace. Nothing is added to the host's own
interfaces or routes.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

# Another name (WEBHOOK_CERT_CLUSTER_NETNS) gives a second, fully separate cluster on the
# same machine: the same addresses, in other namespaces.
NETNS = os.environ.get("WEBHOOK_CERT_CLUSTER_NETNS") or "webhook-cert"
BRIDGE = "wco0"
NODE_IP = "10.244.0.1"
PREFIX_LENGTH = 24
_NETNS_DIR = Path("/run/netns")
# The namespace this process started in (the host's), held open before `enter` leaves it:
# work that needs the outside world (image builds reach the package index) runs there.
_HOST_NETNS_FD = os.open("/proc/self/ns/net", os.O_RDONLY)
_CLONE_NEWNET = 0x40000000


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def netns_exists(name: str) -> bool:
    return (_NETNS_DIR / name).exists()


def ensure_node_network() -> None:
    if netns_exists(NETNS):
        return
    ip("netns", "add", NETNS)
    ip("-n", NETNS, "link", "set", "lo", "up")
    ip("-n", NETNS, "link", "add", BRIDGE, "type", "bridge")
    ip("-n", NETNS, "addr", "add", f"{NODE_IP}/{PREFIX_LENGTH}", "dev", BRIDGE)
    ip("-n", NETNS, "link", "set", BRIDGE, "up")


def route_services(service_cidr: str) -> None:
    """Service addresses routed to the bridge, so that the namespace's own processes reach
    them: kube-proxy's rules rewrite them in the output hook, which comes after the route
    lookup, and without a route that lookup fails first ("network is unreachable"). The
    apiserver calling an admission webhook's Service needs it, as on a node with a
    default route."""
    ip("-n", NETNS, "route", "replace", service_cidr, "dev", BRIDGE, "src", NODE_IP)


def delete_netns(name: str) -> None:
    if netns_exists(name):
        ip("netns", "del", name)


def delete_all() -> None:
    delete_netns(NETNS)


def in_host_network(argv: list[str]) -> list[str]:
    """`argv` run in the network namespace this process started in, wherever it is now."""
    return ["nsenter", f"--net=/proc/{os.getpid()}/fd/{_HOST_NETNS_FD}", "--", *argv]


def enter(name: str = NETNS) -> None:
    """Move the calling thread (and the threads and processes it starts later) into `name`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(_NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
    finally:
        os.close(fd)
