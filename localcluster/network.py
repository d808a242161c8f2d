"""The cluster's private network: one network namespace for the node, one per Pod.

The node namespace holds a bridge with the node address (every cluster listener binds
there or to the namespace's own loopback). Each Pod gets its own namespace joined to the
bridge by a veth pair, with an address from the node's /24, as a CNI bridge plugin would
do. Nothing is added to the host's own interfaces or routes.
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
POD_NETNS_PREFIX = f"{NETNS}-pod-"
FIRST_POD_HOST = 10
LAST_POD_HOST = 250
_NETNS_DIR = Path("/run/netns")
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


def pod_netns_names() -> list[str]:
    if not _NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in _NETNS_DIR.iterdir() if p.name.startswith(POD_NETNS_PREFIX))


def pod_ip(host: int) -> str:
    return f"{NODE_IP.rsplit('.', 1)[0]}.{host}"


def create_pod_network(host: int) -> str:
    """Give Pod number `host` its namespace and address; returns the namespace name."""
    name = f"{POD_NETNS_PREFIX}{host}"
    veth = f"wcov{host}"
    if netns_exists(name):
        ip("netns", "del", name)
    # A pod namespace left by an earlier node (another prefix, a killed agent) keeps its
    # veth on the bridge; that name would clash with the new pair.
    subprocess.run(["ip", "-n", NETNS, "link", "del", veth], capture_output=True)
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")
    ip("-n", NETNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
    ip("-n", NETNS, "link", "set", veth, "master", BRIDGE, "up")
    ip("-n", name, "addr", "add", f"{pod_ip(host)}/{PREFIX_LENGTH}", "dev", "eth0")
    ip("-n", name, "link", "set", "eth0", "up")
    ip("-n", name, "route", "add", "default", "via", NODE_IP)
    return name


def delete_netns(name: str) -> None:
    """Deleting a namespace also destroys its end of the veth pair, and so the pair."""
    if netns_exists(name):
        ip("netns", "del", name)


def delete_all() -> None:
    for name in pod_netns_names():
        delete_netns(name)
    delete_netns(NETNS)


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
