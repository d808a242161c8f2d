"""HTTP-01 solving on the cluster: present the answers, check them as the CA will, clean up.

One solver Pod, Service and Ingress per order (an Ingress rule per host), owned by the
WebhookEndpoint and found again by labels, so a restarted operator picks up where it left
off and clean-up never misses an object. The self-check fetches each challenge URL by
host name through the ingress, as the CA will (RFC 8555 section 8.3), and only when every
URL has answered correctly several times in a row does the operator tell the CA to
validate: a failed validation costs a failed authorization at the CA, a failed self-check
costs nothing.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from webhook_cert_operator import naming
from webhook_cert_operator.api import Http01Spec
from webhook_cert_operator.config import Settings
from webhook_cert_operator.kube import API_VERSION, KIND, AlreadyExists, Kube, NotServed
from webhook_cert_operator.resolve import ResolutionError, parse_nameserver, resolve_host
from webhook_cert_operator.solver import resources

SOLVER_KINDS = ("Pod", "Service", "Ingress", "HTTPRoute")
_BUILDERS = {
    "Pod": resources.build_pod,
    "Service": resources.build_service,
    "Ingress": resources.build_ingress,
    "HTTPRoute": resources.build_http_route,
}


def solver_kinds(http01: Http01Spec) -> tuple[str, ...]:
    """What one order's solver is made of: an HTTPRoute instead of the Ingress when the
    spec names Gateways."""
    route = "HTTPRoute" if http01.gateway_parent_refs else "Ingress"
    return ("Pod", "Service", route)


class SelfCheckFailed(Exception):
    """The challenge answers are not reachable the way the CA will fetch them."""


@dataclass(frozen=True)
class Endpoint:
    """The WebhookEndpoint that owns the solver objects."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Answer:
    """One challenge to serve: the host the CA will ask, and what it must get back."""

    host: str
    token: str = field(repr=False)
    key_authorization: str = field(repr=False)

    @property
    def shown_url(self) -> str:
        """The URL with the token left out: tokens never reach status, events or logs."""
        return f"http://{self.host}{resources.CHALLENGE_PATH_PREFIX}<token>"


def fetch_over_http(
    host: str, path: str, *, nameservers: Sequence[str], port: int, timeout: float
) -> tuple[int | None, bytes, str]:
    """GET http://host/path as the CA would; returns (status, body, failure reason)."""
    try:
        addresses = resolve_host(
            host, nameservers=[parse_nameserver(n) for n in nameservers], timeout=timeout
        )
    except ResolutionError as error:
        return None, b"", f"does not resolve ({error})"
    connection = http.client.HTTPConnection(addresses[0], port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host, "User-Agent": "webhook-cert"})
        response = connection.getresponse()
        body = response.read(4096)
        return response.status, body, f"answered HTTP {response.status}"
    except OSError as error:
        return None, b"", f"is unreachable at {addresses[0]}:{port} ({error.strerror or error})"
    except http.client.HTTPException:  # e.g. a TLS-only port: no status line to read
        return None, b"", f"answered something other than HTTP at {addresses[0]}:{port}"
    finally:
        connection.close()


Fetch = Callable[[str, str], tuple[int | None, bytes, str]]


class Http01Solver:
    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        *,
        fetch: Fetch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.fetch: Fetch = fetch or (
            lambda host, path: fetch_over_http(
                host, path, nameservers=settings.nameservers, port=settings.http01_port, timeout=5.0
            )
        )
        self.monotonic = monotonic
        self.sleep = sleep

    def solver_spec(
        self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer], http01: Http01Spec
    ) -> resources.SolverSpec:
        pod, ingress = http01.pod_template, http01.ingress_template
        return resources.SolverSpec(
            name=naming.solver_name(endpoint.name, order_url),
            namespace=endpoint.namespace,
            owner_api_version=API_VERSION,
            owner_kind=KIND,
            owner_name=endpoint.name,
            owner_uid=endpoint.uid,
            labels=naming.solver_labels(endpoint.name, order_url),
            image=self.settings.solver_image,
            challenges={a.token: a.key_authorization for a in answers},
            hosts=tuple(sorted({a.host for a in answers})),
            port=self.settings.solver_port,
            ingress_class_name=http01.ingress_class_name,
            service_type=http01.service_type,
            pod_labels=pod.labels,
            pod_annotations=pod.annotations,
            node_selector=pod.node_selector,
            tolerations=pod.tolerations,
            resources=pod.resources,
            ingress_labels=ingress.labels,
            ingress_annotations=ingress.annotations,
            gateway_parent_refs=tuple(ref.to_plain() for ref in http01.gateway_parent_refs),
        )

    def present(
        self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer], http01: Http01Spec
    ) -> None:
        """Ensure this order's Pod, Service and Ingress (or HTTPRoute) exist, and no other
        order's do. SelfCheckFailed when the spec names Gateways and the cluster has no
        Gateway API."""
        self.clean_up(endpoint, keep_order_url=order_url)
        spec = self.solver_spec(endpoint, order_url, answers, http01)
        for kind in solver_kinds(http01):
            if self.kube.list_labelled(kind, endpoint.namespace, spec.labels):
                continue
            try:
                self.kube.create(kind, endpoint.namespace, _BUILDERS[kind](spec))
            except AlreadyExists:
                continue  # created concurrently (a second replica, or a retried handler)
            except NotServed as error:  # no Gateway API here: say so where the user looks
                raise SelfCheckFailed(str(error)) from None

    def clean_up(self, endpoint: Endpoint, *, keep_order_url: str | None = None) -> int:
        """Delete the endpoint's solver objects (but those of `keep_order_url`)."""
        labels = {
            naming.LABEL_ROLE: naming.ROLE_SOLVER,
            naming.LABEL_ENDPOINT: naming.label_value(endpoint.name),
        }
        keep = naming.order_hash(keep_order_url) if keep_order_url else None
        deleted = 0
        for kind in SOLVER_KINDS:
            if keep is None:
                deleted += self.kube.delete_labelled(kind, endpoint.namespace, labels)
                continue
            for item in self.kube.list_labelled(kind, endpoint.namespace, labels):
                if item["metadata"].get("labels", {}).get(naming.LABEL_ORDER) != keep:
                    deleted += self.kube.delete_labelled(
                        kind, endpoint.namespace, item["metadata"]["labels"]
                    )
        return deleted

    def self_check(self, answers: Sequence[Answer]) -> None:
        """Wait until every answer is served correctly `self_check_successes` times in a row.

        Raises SelfCheckFailed, naming the first URL that did not pass and what it got.
        """
        settings = self.settings
        needed = settings.self_check_successes
        deadline = self.monotonic() + settings.self_check_timeout.total_seconds()
        streak: dict[Answer, int] = {answer: 0 for answer in answers}
        # Every unfinished answer is fetched before the deadline is looked at, so one that
        # never failed has answered correctly, only too few times.
        too_few = f"answered correctly, but not {needed} times in a row"
        last: dict[Answer, str] = {answer: too_few for answer in answers}
        while True:
            for answer in answers:
                if streak[answer] >= needed:
                    continue
                path = resources.CHALLENGE_PATH_PREFIX + answer.token
                status, body, reason = self.fetch(answer.host, path)
                if status == 200 and body.strip() == answer.key_authorization.encode():
                    streak[answer] += 1
                else:
                    streak[answer] = 0
                    last[answer] = (
                        "answered with something other than the key authorization"
                        if status == 200
                        else reason
                    )
            if all(count >= needed for count in streak.values()):
                return
            if self.monotonic() >= deadline:
                failing = next(a for a in answers if streak[a] < needed)
                raise SelfCheckFailed(
                    f"{failing.shown_url} {last[failing]}; the CA would fail the same way. "
                    "Check that the Ingress class is served by an ingress controller and "
                    "that the host name resolves to it"
                )
            self.sleep(settings.self_check_interval.total_seconds())
