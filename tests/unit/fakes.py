"""Hand-written fakes for the ports the orchestration talks to: Kubernetes, the ACME CA,
the HTTP-01 solver, the status report, the clock, and the progress reporter.

Each fake keeps the state a test asserts on (objects, Secrets, orders, status) and a log
of the calls made, in order, so that a test can say "the CA was never asked" or "the
solver was cleaned up before the client was closed". The fakes implement the protocols
of `certificates.ports` (declared as their bases, so mypy checks every signature) and
share nothing with the real adapters: nothing here touches the network.
"""

from __future__ import annotations

import base64
import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests import pki_factory
from webhook_cert_operator.acme.ari import RenewalInfo
from webhook_cert_operator.acme.messages import Http01Challenge, Order
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.status import OrderRef, get_condition, set_condition
from webhook_cert_operator.api.types import Endpoint, Http01Spec
from webhook_cert_operator.certificates import pki, ports
from webhook_cert_operator.kube import AlreadyExists, Conflict, Kube, Secret
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver.http01 import Answer

Call = tuple[Any, ...]


def token_for(name: str) -> str:
    """A base64url token (RFC 8555 section 8.3) that is recognisable in a failure."""
    return f"tok3n-{name.replace('.', '-')}-S3cr3t"


def key_authorization_for(token: str) -> str:
    return f"{token}.thumbpr1nt-S3cr3t"


# ---- clock ------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ---- Kubernetes -------------------------------------------------------------------------


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


class FakeKube(ports.Kubernetes):
    """The Kubernetes API as a dict of objects, with a log of every call.

    `before` holds one-shot hooks per method name, run at the start of the next call of
    that method: the way a test lets "someone else" act between two of the operator's
    requests. `workloads` maps (kind, namespace, name) to a workload's pod template
    annotations.
    """

    def __init__(self) -> None:  # no API client: nothing here leaves the process
        self.secrets: dict[tuple[str, str], Secret] = {}
        self.secret_bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.objects: dict[str, list[dict[str, Any]]] = {
            "Pod": [],
            "Service": [],
            "EndpointSlice": [],
            "Ingress": [],
            "HTTPRoute": [],
        }
        self.workloads: dict[tuple[str, str, str], dict[str, str]] = {}
        self.calls: list[Call] = []
        self.before: dict[str, list[Callable[[], object]]] = {}
        self._versions = itertools.count(1)

    def _hook(self, method: str) -> None:
        hooks = self.before.get(method)
        if hooks:
            hooks.pop(0)()

    # ---- Secrets ---------------------------------------------------------------------

    def put_secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        *,
        annotations: Mapping[str, str] | None = None,
        type: str = "kubernetes.io/tls",
    ) -> Secret:
        """Store a Secret directly, as a user or another controller would have."""
        secret = Secret(
            name=name,
            namespace=namespace,
            type=type,
            data=dict(data),
            annotations=dict(annotations or {}),
            labels={},
            resource_version=str(next(self._versions)),
        )
        self.secrets[namespace, name] = secret
        return secret

    def _store_body(self, namespace: str, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        data = {k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()}
        data.update({k: v.encode() for k, v in (body.get("stringData") or {}).items()})
        self.secrets[namespace, metadata["name"]] = Secret(
            name=metadata["name"],
            namespace=namespace,
            type=body.get("type", "Opaque"),
            data=data,
            annotations=dict(metadata.get("annotations") or {}),
            labels=dict(metadata.get("labels") or {}),
            resource_version=str(next(self._versions)),
        )
        self.secret_bodies[namespace, metadata["name"]] = copy.deepcopy(dict(body))

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        self._hook("get_secret")
        self.calls.append(("get_secret", namespace, name))
        return self.secrets.get((namespace, name))

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._hook("create_secret")
        name = body["metadata"]["name"]
        self.calls.append(("create_secret", namespace, name))
        if (namespace, name) in self.secrets:
            raise AlreadyExists(f"Secret {namespace}/{name}")
        self._store_body(namespace, body)

    def replace_secret(
        self, namespace: str, body: Mapping[str, Any], resource_version: str
    ) -> None:
        self._hook("replace_secret")
        name = body["metadata"]["name"]
        self.calls.append(("replace_secret", namespace, name, resource_version))
        current = self.secrets.get((namespace, name))
        if current is None or current.resource_version != resource_version:
            raise Conflict(f"Secret {namespace}/{name}")
        self._store_body(namespace, body)

    # ---- objects found by labels -----------------------------------------------------

    def list_labelled(
        self, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        self.calls.append(("list", kind, namespace))
        return [
            copy.deepcopy(item)
            for item in self.objects[kind]
            if item["metadata"]["namespace"] == namespace
            and _matches(item["metadata"].get("labels") or {}, labels)
        ]

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._hook("create")
        name = body["metadata"]["name"]
        self.calls.append(("create", kind, name))
        if any(
            item["metadata"]["name"] == name and item["metadata"]["namespace"] == namespace
            for item in self.objects[kind]
        ):
            raise AlreadyExists(f"{kind} {namespace}/{name}")
        created = copy.deepcopy(dict(body))
        created["metadata"]["namespace"] = namespace
        created["metadata"].setdefault("uid", f"uid-{kind.lower()}-{name}")  # as the API does
        self.objects[kind].append(created)
        return copy.deepcopy(created)

    def delete(self, kind: str, namespace: str, name: str) -> int:
        self._hook("delete")
        self.calls.append(("delete", kind, name))
        doomed = [
            item
            for item in self.objects[kind]
            if (item["metadata"]["namespace"], item["metadata"]["name"]) == (namespace, name)
        ]
        for item in doomed:
            self.objects[kind].remove(item)
        self._collect_garbage({item["metadata"].get("uid") for item in doomed})
        return len(doomed)

    def patch_endpoint_slice(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.calls.append(("patch", "EndpointSlice", name))
        for item in self.objects["EndpointSlice"]:
            meta = item["metadata"]
            if (meta["namespace"], meta["name"]) == (namespace, name):
                item.update(copy.deepcopy(dict(patch)))

    def _collect_garbage(self, gone: set[Any]) -> None:
        """What Kubernetes' garbage collector does: an object whose owners are all gone
        goes too (no "delete" call is recorded: the operator did not send one)."""
        while gone:
            collected: set[Any] = set()
            for items in self.objects.values():
                for item in list(items):
                    owners = {ref.get("uid") for ref in item["metadata"].get("ownerReferences", [])}
                    if owners and owners <= gone:
                        items.remove(item)
                        collected.add(item["metadata"].get("uid"))
            gone = collected

    # ---- workloads -------------------------------------------------------------------

    def pod_template_annotations(
        self, kind: str, namespace: str, name: str
    ) -> dict[str, str] | None:
        self.calls.append(("pod_template_annotations", kind, name))
        found = self.workloads.get((kind, namespace, name))
        return dict(found) if found is not None else None

    def patch_workload(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        self.calls.append(("patch_workload", kind, name))
        template = patch["spec"]["template"]["metadata"]["annotations"]
        self.workloads[kind, namespace, name].update(template)

    def names(self, kind: str) -> list[str]:
        return sorted(item["metadata"]["name"] for item in self.objects[kind])

    def created(self) -> list[Call]:
        return [call for call in self.calls if call[0] == "create"]


# ---- the ACME CA ------------------------------------------------------------------------


class FakeCa:
    """A test CA (root and one intermediate) that signs CSRs the way an ACME CA does."""

    def __init__(self, now: datetime, lifetime: timedelta = timedelta(days=90)) -> None:
        self.now = now
        self.lifetime = lifetime
        self.root = pki_factory.make_root("Fake ACME Root", now=now)
        self.intermediate = pki_factory.make_intermediate(
            self.root, "Fake ACME Intermediate", now=now
        )

    def sign(self, csr_pem: bytes) -> list[x509.Certificate]:
        """The chain a CA returns for the CSR: leaf (the CSR's key and names), intermediate."""
        csr = x509.load_pem_x509_csr(csr_pem)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        not_before = self.now - timedelta(hours=1)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + self.lifetime)
            .add_extension(san, critical=True)
            .add_extension(
                # Real CAs name their key; ARI's certificate identifier needs it (RFC 9773).
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate.cert.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
            .sign(self.intermediate.key, hashes.SHA256())
        )
        return [leaf, self.intermediate.cert]


@dataclass
class FakeAcme(ports.AcmeSession):
    """One ACME client session against FakeCa, logging each call into `log`.

    `orders` is what the CA knows (get_order reads it); `fail` maps a method name to the
    exception it raises; `hooks` maps a method name to something that happens (elsewhere)
    just before the CA answers that call; `new_order_status` is the status of newly created orders
    ("ready" when every authorization is already valid). Pending orders have one pending
    HTTP-01 challenge per name, unless `authorizations_valid` says they are all valid.
    `renewal` is the CA's answer to a renewalInfo request (None: the CA has no ARI).
    """

    ca: FakeCa
    log: list[Call]
    orders: dict[str, Order] = field(default_factory=dict)
    fail: dict[str, BaseException] = field(default_factory=dict)
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)
    new_order_status: str = "pending"
    authorizations_valid: bool = False
    renewal: RenewalInfo | None = None
    replaces_sent: list[str | None] = field(default_factory=list)
    csrs: list[bytes] = field(default_factory=list)
    closed: bool = False
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _call(self, name: str, *args: Any) -> None:
        self.log.append(("acme", name, *args))
        if name in self.hooks:
            self.hooks.pop(name)()
        if name in self.fail:
            raise self.fail[name]

    def add_order(self, url: str, status: str, dns_names: Sequence[str]) -> Order:
        order = Order(
            url=url,
            status=status,
            identifiers=tuple(sorted(dns_names)),
            authorizations=tuple(f"{url}/authz/{name}" for name in sorted(dns_names)),
            finalize_url=f"{url}/finalize",
        )
        self.orders[url] = order
        return order

    def ensure_account(
        self, email: str | None, *, agree_tos: bool, eab: tuple[str, bytes] | None = None
    ) -> str:
        self._call("ensure_account", email, agree_tos, eab)
        return "https://ca.test/acct/1"

    def new_order(
        self,
        dns_names: Sequence[str],
        *,
        replaces: str | None = None,
        profile: str | None = None,
    ) -> Order:
        self._call("new_order", tuple(dns_names), profile)
        self.replaces_sent.append(replaces)
        url = f"https://ca.test/order/new-{next(self._numbers)}"
        return self.add_order(url, self.new_order_status, dns_names)

    def get_order(self, url: str) -> Order:
        self._call("get_order", url)
        return self.orders[url]

    def pending_http01_challenges(self, order: Order) -> list[Http01Challenge]:
        self._call("pending_http01_challenges", order.url)
        if self.authorizations_valid:
            return []
        return [
            Http01Challenge(
                identifier=name,
                url=f"{order.url}/chall/{name}",
                authz_url=f"{order.url}/authz/{name}",
                status="pending",
                token=token_for(name),
                key_authorization=key_authorization_for(token_for(name)),
            )
            for name in order.identifiers
        ]

    def answer(self, challenge: Http01Challenge) -> None:
        self._call("answer", challenge.identifier)

    def wait_for_authorizations(
        self,
        order: Order,
        *,
        deadline: float,
        sleep: Callable[[float], None] = lambda _: None,
        now: Callable[[], float] = lambda: 0.0,
    ) -> Order:
        self._call("wait_for_authorizations", order.url)
        ready = replace(order, status="ready")
        self.orders[order.url] = ready
        return ready

    def finalize(
        self,
        order: Order,
        csr_pem: bytes,
        *,
        deadline: float,
        sleep: Callable[[float], None] = lambda _: None,
        now: Callable[[], float] = lambda: 0.0,
    ) -> Order:
        self._call("finalize", order.url)
        self.csrs.append(csr_pem)
        valid = replace(order, status="valid", certificate_url=f"{order.url}/cert")
        self.orders[order.url] = valid
        return valid

    def download_chain(self, order: Order, *, preferred_chain: str | None = None) -> str:
        self._call("download_chain", order.url, preferred_chain)
        chain = self.ca.sign(self.csrs[-1])
        return pki.chain_to_pem(chain).decode()

    def renewal_info(self, cert_pem: bytes) -> RenewalInfo | None:
        self._call("renewal_info")
        return self.renewal

    def close(self) -> None:
        self.log.append(("acme", "close"))
        self.closed = True

    def csr(self) -> x509.CertificateSigningRequest:
        return x509.load_pem_x509_csr(self.csrs[-1])


class FakeAcmeFactory:
    """The Issuer's `acme_factory` (in the operator, `AcmeAccounts.client`): hands out one
    FakeAcme and remembers the (server, account key) it was given."""

    def __init__(self, client: FakeAcme) -> None:
        self.client = client
        self.calls: list[tuple[str, bytes]] = []

    def __call__(self, server: str, account_key_pem: bytes, account: str = "") -> ports.AcmeSession:
        self.client.log.append(("acme", "connect", server))
        self.calls.append((server, account_key_pem))
        return self.client


# ---- the HTTP-01 solver -----------------------------------------------------------------


class FakeSolver(ports.Solver):
    """Records present / self_check / finish / clean_up into `log`; `fail` maps a method
    to an error."""

    def __init__(self, log: list[Call]) -> None:  # no Kube, no HTTP
        self.log = log
        self.fail: dict[str, BaseException] = {}
        self.presented: list[tuple[Endpoint, str, tuple[Answer, ...], Http01Spec]] = []

    def _call(self, name: str, *args: Any) -> None:
        self.log.append(("solver", name, *args))
        if name in self.fail:
            raise self.fail[name]

    def present(
        self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer], http01: Http01Spec
    ) -> None:
        self.presented.append((endpoint, order_url, tuple(answers), http01))
        self._call("present", order_url)

    def self_check(self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer]) -> None:
        self._call("self_check", tuple(sorted(a.host for a in answers)))

    def finish(self, endpoint: Endpoint, order_url: str) -> None:
        self._call("finish", endpoint.name, order_url)

    def clean_up(self, endpoint: Endpoint, *, keep_order_url: str | None = None) -> int:
        self._call("clean_up", endpoint.name, keep_order_url)
        return 0


# ---- progress and status ------------------------------------------------------------------


class RecordingProgress(ports.Progress):
    """ports.Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.orders: list[OrderRef] = []
        self.writes = 0

    def step(self, reason: str, message: str) -> None:
        self.steps.append((reason, message))

    def waiting(self, reason: str, message: str) -> None:
        self.step(reason, message)
        self.writes += 1

    def order(self, order: OrderRef, reason: str, message: str) -> None:
        self.step(reason, message)
        self.orders.append(order)
        self.writes += 1

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.steps]


class FakeReport(ports.Report):
    """ports.Report as an endpoint's status in memory: `status` holds every field written
    (a merge, as the status patch is), `conditions` the conditions as written (set with
    `set_condition` at `now`), and `events` each (type, reason, message) posted."""

    def __init__(
        self, endpoint: Endpoint, status: Mapping[str, Any] | None = None, *, now: datetime
    ) -> None:
        self.endpoint = endpoint
        self.now = now
        self.status: dict[str, Any] = dict(status or {})
        self.conditions: list[dict[str, Any]] = list(self.status.get("conditions") or [])
        self.pending: dict[str, api.Condition] = {}
        self.pending_fields: dict[str, Any] = {}
        self.events: list[tuple[str, str, str]] = []
        self.writes = 0

    def condition(self, type: str, status: str, reason: str, message: str) -> None:
        self.pending[type] = api.Condition(type, status, reason, message)

    def write(self, **fields: Any) -> None:
        for condition in self.pending.values():
            self.conditions = set_condition(self.conditions, condition, now=self.now, generation=1)
        self.pending.clear()
        self.status.update(self.pending_fields, **fields, conditions=self.conditions)
        self.pending_fields.clear()
        self.writes += 1

    def step(self, reason: str, message: str, **fields: Any) -> None:
        self.condition(api.ISSUING, "True", reason, message)
        self.pending_fields.update(fields)

    def waiting(self, reason: str, message: str) -> None:
        self.step(reason, message)
        self.write()

    def order(self, order: OrderRef, reason: str, message: str) -> None:
        self.step(reason, message)
        self.write(order=order.to_status())
        self.post_event("Normal", reason, message)

    def post_event(self, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))

    def get(self, type: str) -> tuple[str, str] | None:
        """The (status, reason) of the condition `type`, None when it is not set."""
        found = get_condition(self.conditions, type)
        return (found.status, found.reason) if found is not None else None


class FakeLocks(ports.Locks):
    """ports.Locks: one lock per (purpose, uid), kept in `locks` for a test to hold."""

    def __init__(self) -> None:
        self.locks: dict[tuple[str, str], threading.Lock] = {}

    def lock(self, purpose: str, uid: str) -> threading.Lock:
        return self.locks.setdefault((purpose, uid), threading.Lock())


# ---- helpers ----------------------------------------------------------------------------


def as_kube(fake: FakeKube) -> Kube:
    """`fake` where an adapter takes the concrete `kube.Kube` client: the HTTP-01 solver,
    the chain checker and the Ingress sync are adapters over it with no port of their
    own. mypy cannot check the fake against them; a method the fake lacks fails the test.
    """
    return cast(Kube, fake)


def settings(**changes: Any) -> Settings:
    return replace(Settings(acme_agree_tos=True), **changes)


def key_pem(key: pki.PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
