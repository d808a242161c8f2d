"""Orchestration: the trust store each served-chain check judges with.

Mozilla's roots (certifi's bundle, read once), or the PEM bundle an endpoint names in
`spec.validation.trustBundle`, a ConfigMap or Secret key in its namespace, read at each
check so that a changed bundle counts at once. A bundle is parsed once per content: the
checks of one bundle share one tuple of certificates, which also lets the path builder
keep its index of them (`path.trust_index`). The reading is the Kubernetes port's.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from cryptography import x509

from webhook_cert_operator.api.types import TrustBundleRef
from webhook_cert_operator.checking import trust

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Kube

#: Bundles (by content) kept parsed.
BUNDLES_KEPT: Final = 16


class TrustBundleUnavailable(Exception):
    """`spec.validation.trustBundle` cannot be read or holds no certificate (stable text)."""


class TrustStores:
    """Where checks get their trust store. Thread-safe; build one per checker."""

    def __init__(self, kube: Kube, default_trust: Callable[[], Sequence[x509.Certificate]]):
        """`default_trust` gives Mozilla's roots (called once, at the first need)."""
        self.kube = kube
        self._default_trust = default_trust
        self._default_roots: tuple[x509.Certificate, ...] | None = None
        self._default_lock = threading.Lock()
        self._parse = functools.lru_cache(maxsize=BUNDLES_KEPT)(_parse_bundle)

    def default_roots(self) -> tuple[x509.Certificate, ...]:
        """Mozilla's roots, parsed once (about 150 certificates) and shared."""
        with self._default_lock:
            if self._default_roots is None:
                self._default_roots = tuple(self._default_trust())
            return self._default_roots

    def roots(self, namespace: str, ref: TrustBundleRef | None) -> tuple[x509.Certificate, ...]:
        """The endpoint's trust store, in bundle order; TrustBundleUnavailable if its
        bundle is missing, lacks the key, or holds no valid PEM certificate."""
        if ref is None:
            return self.default_roots()
        where = f"spec.validation.trustBundle: {ref.kind} {ref.name}"
        if ref.kind == "Secret":
            secret = self.kube.get_secret(namespace, ref.name)
            data = secret.data if secret is not None else None
        else:
            data = self.kube.get_config_map_data(namespace, ref.name)
        if data is None:
            raise TrustBundleUnavailable(f"{where} does not exist in namespace {namespace}")
        if ref.key not in data:
            raise TrustBundleUnavailable(f"{where} has no key {ref.key}")
        try:
            return self._parse(data[ref.key], f"{where} key {ref.key}")
        except trust.TrustBundleError as error:
            raise TrustBundleUnavailable(str(error)) from None


def _parse_bundle(data: bytes, source: str) -> tuple[x509.Certificate, ...]:
    # Kept strict: a corrupt root in a user's bundle is a mistake to report, unlike one
    # odd root in Mozilla's store. Errors are not kept: the next check reports them anew.
    return trust.parse_pem_certificates(data, source=source)
