"""Adapter: one ACME client per account, reused by every call and thread instead of rebuilt.

Adapter (owns `AcmeClient`s, which do I/O; the registry itself sends nothing). A new
client fetches the CA's directory and looks its account up (RFC 8555 sections 7.1.1 and
7.3.1) before its first real request; keeping one per account makes each ARI poll
(RFC 9773) and each issuance after the first cost only their own requests. cert-manager's
ACME account registry is the model: a client is kept per account and replaced when the
account's key or server changes.

An account slot is a directory URL and a name the caller gives it (the Issuer uses its
account Secret's name). A slot's client is replaced, never reused, when:
- the account key differs from the one it was made for (the Secret was replaced);
- the CA refuses the account even after the client found or registered it again
  (`AcmeClient.disowned`; a CA that merely forgot it, e.g. after a reset, is handled
  inside the client by `acme.session`);
- it is older than `MAX_AGE`, so that a directory the CA changed (new profiles, terms of
  service, `renewalInfo`) is seen within a day, as it was seen at once when every call
  built its own client.

Every `client()` hands out a lease: the caller calls `close()` once when done, and the
last caller out closes the pooled connections (the directory and account stay), so a
replaced client is never closed under another thread's request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from webhook_cert_operator.acme.client import AcmeClient

MAX_AGE: Final = 24 * 3600.0
"""Seconds a client is reused before the next call builds a fresh one."""

Connect = Callable[[str, bytes], AcmeClient]
"""Builds a client for (directory URL, account key PEM); sends nothing yet."""


@dataclass(frozen=True)
class _Entry:
    key_digest: str
    client: AcmeClient
    created: float


class AcmeAccounts:
    """The registry: one shared `AcmeClient` per account slot; safe to use from threads.

    `connect` builds a client (`AcmeClient` with the operator's CA bundle and metrics
    observer); `monotonic` is the clock `max_age` (seconds) is measured on.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        max_age: float = MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def client(self, directory_url: str, account_key_pem: bytes, account: str = "") -> AcmeClient:
        """The client for `account` at `directory_url` with this key, leased to the caller.

        The caller must `close()` it once when done. `account` names the slot: a new key
        under the same name replaces the slot's client. Without a name, the key itself
        names the slot, so each key keeps its own client.
        """
        key_digest = hashlib.sha256(account_key_pem).hexdigest()
        slot = (directory_url, account or key_digest)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None or not self._fits(entry, key_digest):
                # Building sends nothing (the directory is fetched on first use), so it
                # may happen under the lock: two threads never build one slot twice.
                client = self._connect(directory_url, account_key_pem)
                entry = _Entry(key_digest, client, self._monotonic())
                self._entries[slot] = entry
            return entry.client.lease()

    def _fits(self, entry: _Entry, key_digest: str) -> bool:
        return (
            entry.key_digest == key_digest
            and not entry.client.disowned
            and self._monotonic() - entry.created < self._max_age
        )

    def __len__(self) -> int:
        """How many account slots hold a client."""
        with self._lock:
            return len(self._entries)
