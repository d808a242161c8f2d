"""Orchestration: issuance for one WebhookEndpoint, account -> order -> solve -> finalize -> store.

Blocking, run in a worker thread. It talks to the CA, the cluster and the HTTP-01 solver
through the ports in `certificates.ports`, and reports each step through `Progress`,
which the kopf glue turns into status conditions and events. The ACME order URL is
reported as soon as it exists, so an operator restarted mid-issuance resumes that order
instead of starting another (RFC 8555 section 7.4 orders stay usable until they expire).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webhook_cert_operator import naming
from webhook_cert_operator.acme.ari import RenewalInfo
from webhook_cert_operator.acme.errors import AcmeError, AcmeUnavailable
from webhook_cert_operator.acme.messages import Order
from webhook_cert_operator.api.status import OrderRef
from webhook_cert_operator.api.types import API_VERSION, KIND, Endpoint, EndpointSpec
from webhook_cert_operator.certificates import pki, ports
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.certificates.ports import AcmeSession, Progress
from webhook_cert_operator.kube import AlreadyExists
from webhook_cert_operator.kube_errors import passes_on_its_own
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver.http01 import Answer

# Bounds on waiting for the CA; Pebble answers in seconds, Let's Encrypt in well under a
# minute, so these only stop a stuck order from holding a worker forever.
AUTHORIZATION_TIMEOUT = 180.0
FINALIZE_TIMEOUT = 180.0
# How long an issued certificate waits for the Kubernetes API to come back (an apiserver
# restart, etcd briefly gone) before the attempt fails: its new key exists only in memory
# until the Secret is written, and losing it costs a new order.
API_PATIENCE = 120.0
_RESUMABLE = ("pending", "ready")


class AccountError(Exception):
    """The ACME account cannot be set up from the configuration (e.g. missing EAB key)."""


@dataclass(frozen=True)
class Issued:
    certificate: pki.CertificateInfo
    order_url: str
    chain_length: int
    # The ARI identifier the CA accepted as replaced by this certificate (RFC 9773).
    replaced: str | None = None


def owner_reference(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": endpoint.name,
        "uid": endpoint.uid,
    }


class Issuer:
    def __init__(
        self,
        kube: ports.Secrets,
        settings: Settings,
        solver: ports.Solver,
        acme_factory: ports.AcmeConnect,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.solver = solver
        self.acme_factory = acme_factory
        self.monotonic = monotonic
        self.sleep = sleep

    def clean_up(self, endpoint: Endpoint) -> None:
        """Delete the endpoint's HTTP-01 solver objects now (owner references would later)."""
        self.solver.clean_up(endpoint)

    # ---- account ------------------------------------------------------------------------

    def account_key(self, server: str, email: str | None, eab_key_id: str | None = None) -> bytes:
        """The account key for (server, email, EAB key ID), created once and kept in a
        Secret."""
        namespace = self.settings.namespace
        name = naming.account_secret_name(server, email, eab_key_id)
        secret = self.kube.get_secret(namespace, name)
        if secret is not None and secret.data.get("key.pem"):
            return secret.data["key.pem"]
        key_pem = pki.generate_account_key()
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {naming.LABEL_MANAGED_BY: naming.MANAGED_BY},
                "annotations": {
                    "webhookcert.dev/acme-server": server,
                    "webhookcert.dev/acme-email": email or "",
                },
            },
            "stringData": {"key.pem": key_pem.decode()},
        }
        try:
            self.kube.create_secret(namespace, body)
        except AlreadyExists:  # another worker or replica won the race: use its key
            secret = self.kube.get_secret(namespace, name)
            if secret is None or not secret.data.get("key.pem"):
                # Not ours to overwrite, and asking again would loop: say what is wrong.
                raise AccountError(
                    f"Secret {namespace}/{name} exists but holds no key.pem; delete it so "
                    "that the operator can create the ACME account key"
                ) from None
            return secret.data["key.pem"]
        return key_pem

    def _eab(self, endpoint: Endpoint, spec: EndpointSpec) -> tuple[str, bytes] | None:
        binding = spec.acme.external_account_binding
        if binding is None:
            return None
        ref = binding.key_secret_ref
        secret = self.kube.get_secret(endpoint.namespace, ref.name)
        if secret is None or not secret.data.get(ref.key):
            raise AccountError(
                f"spec.acme.externalAccountBinding: Secret {ref.name} with key {ref.key} "
                "was not found in the endpoint's namespace"
            )
        return binding.key_id, secret.data[ref.key].strip()

    def account(self, endpoint: Endpoint, spec: EndpointSpec) -> AcmeSession:
        server, email = spec.acme.server, spec.acme.email
        binding = spec.acme.external_account_binding
        key_id = binding.key_id if binding is not None else None
        account = naming.account_secret_name(server, email, key_id)
        acme = self.acme_factory(server, self.account_key(server, email, key_id), account)
        try:
            acme.ensure_account(
                email, agree_tos=self.settings.acme_agree_tos, eab=self._eab(endpoint, spec)
            )
        except BaseException:
            acme.close()
            raise
        return acme

    # ---- order --------------------------------------------------------------------------

    def _order(
        self,
        acme: AcmeSession,
        spec: EndpointSpec,
        previous: OrderRef | None,
        progress: Progress,
        replaces: str | None,
    ) -> Order:
        attempts = 1
        if previous is not None and sorted(previous.dns_names) == sorted(spec.dns_names):
            attempts = previous.attempts + 1
            if previous.state in _RESUMABLE:
                try:
                    order: Order | None = acme.get_order(previous.url)
                except AcmeUnavailable:
                    raise  # the CA is down, the order may be fine: try again later
                except AcmeError:
                    # Gone, or not this account's (spec.acme.server changed): resuming
                    # would fail the same way on every retry, so start a new order.
                    order = None
                if order is not None and order.status in _RESUMABLE:
                    # No order was created: `attempts` counts created orders.
                    progress.order(
                        OrderRef(order.url, order.status, previous.attempts, spec.dns_names),
                        "OrderResumed",
                        "resumed the pending ACME order",
                    )
                    return order
        order = self._new_order(acme, spec, replaces)
        renewing = f", replacing certificate {order.replaces}" if order.replaces else ""
        progress.order(
            OrderRef(order.url, order.status, attempts, spec.dns_names),
            "OrderCreated",
            f"created an ACME order for {len(spec.dns_names)} name(s){renewing}",
        )
        return order

    @staticmethod
    def _new_order(acme: AcmeSession, spec: EndpointSpec, replaces: str | None) -> Order:
        """RFC 9773 section 5: name the certificate this one replaces, so the CA can exempt
        the renewal from rate limits. A CA may refuse it (already replaced, or issued to
        another account); the order itself is still wanted, so ask again without it."""
        names = list(spec.dns_names)
        if replaces is None:
            return acme.new_order(names, profile=spec.acme.profile)
        try:
            return acme.new_order(names, replaces=replaces, profile=spec.acme.profile)
        except AcmeUnavailable:
            raise
        except AcmeError:
            return acme.new_order(names, profile=spec.acme.profile)

    def renewal_info(
        self, endpoint: Endpoint, spec: EndpointSpec, leaf_pem: bytes
    ) -> RenewalInfo | None:
        """The CA's suggested renewal window for a certificate (None: the CA has no ARI)."""
        acme = self.account(endpoint, spec)
        try:
            return acme.renewal_info(leaf_pem)
        finally:
            acme.close()

    def _authorize(
        self,
        acme: AcmeSession,
        endpoint: Endpoint,
        spec: EndpointSpec,
        order: Order,
        progress: Progress,
    ) -> None:
        challenges = acme.pending_http01_challenges(order)
        if challenges:
            answers = [Answer(c.identifier, c.token, c.key_authorization) for c in challenges]
            self.solver.present(endpoint, order.url, answers, spec.http01)
            progress.waiting(
                "SelfCheck",
                f"serving {len(answers)} HTTP-01 challenge(s); waiting until each answers "
                "through the ingress",
            )
            self.solver.self_check(endpoint, order.url, answers)
            for challenge in challenges:
                acme.answer(challenge)
            progress.step("Validating", "the CA is validating the HTTP-01 challenges")
        acme.wait_for_authorizations(order, deadline=self.monotonic() + AUTHORIZATION_TIMEOUT)

    # ---- whole issuance -----------------------------------------------------------------

    def issue(
        self,
        endpoint: Endpoint,
        spec: EndpointSpec,
        previous: OrderRef | None,
        progress: Progress,
        *,
        replaces: str | None = None,
    ) -> Issued:
        """Obtain a certificate and store it; raises the adapters' errors on failure.

        The Secret's ownership is checked before any ACME request: a name that belongs to
        someone else must not cost an order. `replaces` is the ARI identifier of the
        certificate being renewed (RFC 9773 section 5).

        Long because: the solver clean-up and the client's close wrap every ACME step.
        Once the certificate is in hand, the Secret is written and the order's solver
        objects go, each waiting out a Kubernetes API that is briefly unavailable; after a
        failure before that, every solver object of the endpoint goes.
        """
        existing = self.kube.get_secret(endpoint.namespace, spec.secret_name)
        if existing is not None:
            tls_secret.check_owned(
                existing.annotations,
                namespace=endpoint.namespace,
                secret_name=spec.secret_name,
                endpoint_name=endpoint.name,
            )
        acme = self.account(endpoint, spec)
        try:
            try:
                order = self._order(acme, spec, previous, progress, replaces)
                if order.status == "pending":
                    self._authorize(acme, endpoint, spec, order, progress)
                key = self._private_key(spec, existing)
                progress.step("Finalizing", "all names validated; sending the CSR")
                order = acme.finalize(
                    order,
                    pki.build_csr(key, spec.dns_names),
                    deadline=self.monotonic() + FINALIZE_TIMEOUT,
                )
                chain_pem = acme.download_chain(order, preferred_chain=spec.acme.preferred_chain)
            except BaseException:
                self.solver.clean_up(endpoint)
                raise
        finally:
            acme.close()
        chain = pki.split_pem_chain(chain_pem.encode())
        key_pem, full_chain_pem = pki.private_key_to_pem(key), pki.chain_to_pem(chain)
        self._while_the_api_recovers(lambda: self._store(endpoint, spec, key_pem, full_chain_pem))
        self._while_the_api_recovers(lambda: self.solver.finish(endpoint, order.url))
        return Issued(pki.describe_certificate(chain[0]), order.url, len(chain), order.replaces)

    def _while_the_api_recovers(self, write: Callable[[], None]) -> None:
        """Run `write` again while the Kubernetes API fails in a way that passes on its own
        (`kube_errors`), 1 s, 2 s, 4 s, ... apart, for up to API_PATIENCE seconds; then, or
        on any other error, raise it."""
        deadline = self.monotonic() + API_PATIENCE
        pause = 1.0
        while True:
            try:
                write()
                return
            except Exception as error:
                if not passes_on_its_own(error) or self.monotonic() + pause > deadline:
                    raise
            self.sleep(pause)
            pause = min(2 * pause, 10.0)

    def _private_key(self, spec: EndpointSpec, existing: Any) -> pki.PrivateKey:
        """A fresh key, unless rotationPolicy Never and the stored key still fits."""
        wanted = spec.private_key
        if wanted.rotation_policy == "Never" and existing is not None:
            stored = tls_secret.parse_stored(existing.data)
            if not isinstance(stored, str):
                algorithm, size = pki.key_algorithm_and_size(stored.key)
                if (algorithm, size) == (pki.normalize_algorithm(wanted.algorithm), wanted.size):
                    return stored.key
        return pki.generate_private_key(wanted.algorithm, wanted.size)

    def _store(
        self, endpoint: Endpoint, spec: EndpointSpec, key_pem: bytes, chain_pem: bytes
    ) -> None:
        """Create or replace the Secret in one write: the old certificate stays until then."""
        root = tls_secret.issuing_root(pki.split_pem_chain(chain_pem))
        body = tls_secret.build_tls_secret(
            namespace=endpoint.namespace,
            name=spec.secret_name,
            endpoint_name=endpoint.name,
            key_pem=key_pem,
            chain_pem=chain_pem,
            # Retain (the default): the Secret outlives the endpoint, so it is not owned.
            owner=tls_secret.secret_owner(spec.secret_deletion_policy, owner_reference(endpoint)),
            output_formats=spec.additional_output_formats,
            ca_pem=pki.chain_to_pem([root]) if root is not None else None,
            issued_under=spec.acme,
        )
        existing = self.kube.get_secret(endpoint.namespace, spec.secret_name)
        if existing is None:
            try:
                self.kube.create_secret(endpoint.namespace, body)
                return
            except AlreadyExists:
                existing = self.kube.get_secret(endpoint.namespace, spec.secret_name)
                assert existing is not None
        tls_secret.check_owned(
            existing.annotations,
            namespace=endpoint.namespace,
            secret_name=spec.secret_name,
            endpoint_name=endpoint.name,
        )
        self.kube.replace_secret(endpoint.namespace, body, existing.resource_version)
