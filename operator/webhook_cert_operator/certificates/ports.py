"""Orchestration ports: what issuance and lifecycle need from the world, as Protocols.

Interfaces only (`typing.Protocol`), no behaviour. `issuance` and `lifecycle` talk to
Kubernetes, the ACME CA, the HTTP-01 solver and the status writer through these; the
real adapters (`kube.Kube`, `acme.client.AcmeClient`, `solver.http01.Http01Solver`,
`glue.status_writer.StatusWriter`) satisfy them structurally, and the unit tests' fakes
(tests/unit/fakes.py) implement them, checked by mypy. Each protocol lists only the
operations the orchestration calls, with the adapter's errors named in its docstring.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from webhook_cert_operator.acme.ari import RenewalInfo
from webhook_cert_operator.acme.messages import Http01Challenge, Order
from webhook_cert_operator.api.status import OrderRef
from webhook_cert_operator.api.types import Endpoint, Http01Spec
from webhook_cert_operator.kube import Secret
from webhook_cert_operator.solver.http01 import Answer

# ---- Kubernetes ---------------------------------------------------------------------------


class Secrets(Protocol):
    """Secrets by namespace and name (`kube.Kube`)."""

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        """The Secret, None when it does not exist."""

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create; `kube.AlreadyExists` when a Secret of that name exists."""

    def replace_secret(
        self, namespace: str, body: Mapping[str, Any], resource_version: str
    ) -> None:
        """Replace that version only; `kube.Conflict` when it changed meanwhile."""


class Workloads(Protocol):
    """The Deployments and StatefulSets rolled onto a new certificate (`kube.Kube`)."""

    def pod_template_annotations(
        self, kind: str, namespace: str, name: str
    ) -> dict[str, str] | None:
        """The pod template's annotations; None when the workload does not exist."""

    def patch_workload(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Merge-patch the workload (a pod template change rolls its Pods)."""


class EndpointStatus(Protocol):
    """A WebhookEndpoint and its status subresource (`kube.Kube`)."""

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The endpoint's body, None when it was deleted."""

    def patch_endpoint_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch status (a list such as conditions is replaced whole)."""


class Kubernetes(Secrets, Workloads, Protocol):
    """Every Kubernetes operation the certificate orchestration uses."""


# ---- the ACME CA (RFC 8555) -----------------------------------------------------------------


class AcmeSession(Protocol):
    """One ACME client for one CA directory and one account key (`acme.client.AcmeClient`).

    Every method may raise `acme.client.AcmeError`; `AcmeUnavailable` (a subclass) when
    the CA cannot be reached or answers 5xx, with its Retry-After when it sent one.
    """

    def ensure_account(
        self, email: str | None, *, agree_tos: bool, eab: tuple[str, bytes] | None = None
    ) -> str:
        """The account URL, registering the key first (RFC 8555 section 7.3)."""

    def new_order(
        self, dns_names: Sequence[str], *, replaces: str | None = None, profile: str | None = None
    ) -> Order:
        """A new order (section 7.4; `replaces`: RFC 9773 section 5)."""

    def get_order(self, url: str) -> Order:
        """The order as the CA knows it now."""

    def pending_http01_challenges(self, order: Order) -> list[Http01Challenge]:
        """The HTTP-01 challenges still to answer (section 8.3)."""

    def answer(self, challenge: Http01Challenge) -> None:
        """Tell the CA to validate the challenge (section 7.5.1)."""

    def wait_for_authorizations(self, order: Order, *, deadline: float) -> Order:
        """Poll until every authorization is valid; `deadline` on the monotonic clock."""

    def finalize(self, order: Order, csr_pem: bytes, *, deadline: float) -> Order:
        """Send the CSR and poll until the certificate is issued (section 7.4)."""

    def download_chain(self, order: Order, *, preferred_chain: str | None = None) -> str:
        """The PEM chain, leaf first, from the alternate the preferred root names."""

    def renewal_info(self, cert_pem: bytes) -> RenewalInfo | None:
        """The CA's suggested renewal window (RFC 9773 section 4); None without ARI."""

    def close(self) -> None:
        """Close pooled connections."""


AcmeConnect = Callable[[str, bytes, str], AcmeSession]
"""(directory URL, account key PEM, account name) -> an ACME client for them, leased to the
caller, who closes it (`acme.accounts.AcmeAccounts.client` reuses one per account)."""


# ---- the HTTP-01 solver ---------------------------------------------------------------------


class Solver(Protocol):
    """Serves HTTP-01 answers through the cluster's ingress (`solver.http01.Http01Solver`)."""

    def present(
        self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer], http01: Http01Spec
    ) -> None:
        """Serve the order's answers and route them (the solver's objects), and no other's."""

    def self_check(self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer]) -> None:
        """Wait until each answer is served; `solver.http01.SelfCheckFailed` if not in time."""

    def finish(self, endpoint: Endpoint, order_url: str) -> None:
        """The order is valid: stop serving its answers and delete its solver objects."""

    def clean_up(self, endpoint: Endpoint, *, keep_order_url: str | None = None) -> int:
        """Delete the endpoint's solver objects (but those of `keep_order_url`); how many."""


# ---- reporting ------------------------------------------------------------------------------


class Progress(Protocol):
    """Where issuance reports what it does: the Issuing condition, status.order and Events.

    Status is written once per step a user would notice, not per sub-step: each write is a
    PATCH that every watcher of the endpoint receives.
    """

    def step(self, reason: str, message: str) -> None:
        """The Issuing condition's reason and message, written with the next write."""

    def waiting(self, reason: str, message: str) -> None:
        """A step that may take a while (the self-check through the ingress): the Issuing
        condition written now, so `kubectl get` shows what issuance waits for."""

    def order(self, order: OrderRef, reason: str, message: str) -> None:
        """An order created or resumed: status.order and the Issuing condition written now,
        and a Normal Event with `reason` and `message`."""


class Report(Progress, Protocol):
    """An endpoint's status and events, as lifecycle writes them (`glue.status_writer`).

    `conditions` are the endpoint's conditions as last read or written; `condition` sets
    one for the next `write`, which patches them together with `fields` (status fields).
    """

    endpoint: Endpoint
    conditions: list[dict[str, Any]]

    def condition(self, type: str, status: str, reason: str, message: str) -> None: ...

    def write(self, **fields: Any) -> None: ...

    def step(self, reason: str, message: str, **fields: Any) -> None:
        """Issuing True with this reason, and `fields`, written with the next write."""

    def post_event(self, type: str, reason: str, message: str) -> None:
        """An Event on the endpoint; `type` is Normal or Warning."""


class Locks(Protocol):
    """Per-endpoint locks, one per purpose ("issuance", "status") and endpoint uid."""

    def lock(self, purpose: str, uid: str) -> threading.Lock: ...
