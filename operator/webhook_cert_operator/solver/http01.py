"""Adapter: HTTP-01 on the cluster: present the answers, check them as the CA will, clean up.

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
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from webhook_cert_operator import naming
from webhook_cert_operator.api.formats import CHALLENGE_PATH_PREFIX, challenge_path, is_ip_address
from webhook_cert_operator.api.types import API_VERSION, KIND, Endpoint, Http01Spec
from webhook_cert_operator.checking.resolve import ResolutionError, parse_nameserver, resolve_host
from webhook_cert_operator.kube import AlreadyExists, Kube, NotServed
from webhook_cert_operator.settings import Settings
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
class Answer:
    """One challenge to serve: the host the CA will ask, and what it must get back."""

    host: str
    token: str = field(repr=False)
    key_authorization: str = field(repr=False)

    @property
    def shown_url(self) -> str:
        """The URL with the token left out: tokens never reach status, events or logs."""
        return f"http://{self.host}{CHALLENGE_PATH_PREFIX}<token>"


#: Let's Encrypt follows at most 10 redirects, to http or https on ports 80 and 443 only.
MAX_REDIRECTS: Final = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
Response = tuple[int | None, bytes, str]


def fetch_over_http(
    host: str,
    path: str,
    *,
    nameservers: Sequence[str],
    port: int,
    timeout: float,
    https_port: int = 443,
) -> Response:
    """GET http://host/path as Let's Encrypt does; returns (status, body, failure reason).

    Like the CA (RFC 8555 section 8.3, and Let's Encrypt's documented behaviour): from
    every address the host resolves to (it validates from several places and prefers
    IPv6, so any A or AAAA record may be the one asked), following up to 10 redirects to
    http or https URLs on ports 80 and 443, without checking the certificate of an HTTPS
    hop. `port` and `https_port` are where "80" and "443" are dialled (tests move them).
    A failure names the address and, after redirects, the final URL (token hidden).
    """
    try:
        addresses = resolve_host(
            host, nameservers=[parse_nameserver(n) for n in nameservers], timeout=timeout
        )
    except ResolutionError as error:
        return None, b"", f"does not resolve ({error})"
    hops = _Hops(host, path, port, https_port, timeout, nameservers)
    answered = _drop_unreachable_ipv6([(address, hops.follow(address)) for address in addresses])
    return _one_response(answered)


def _drop_unreachable_ipv6(answered: list[tuple[str, Response]]) -> list[tuple[str, Response]]:
    """Leave out the IPv6 addresses that gave no connection, when an IPv4 address exists."""
    if all(":" in address for address, _ in answered):
        return answered
    # Let's Encrypt prefers IPv6 but falls back to IPv4 when it cannot connect over
    # IPv6; and this machine may have no IPv6 route at all. So an IPv6 address that
    # gives no connection counts only when there is no IPv4 address to fall back to.
    return [
        (address, result)
        for address, result in answered
        if ":" not in address or not _no_connection(result)
    ]


def _one_response(answered: list[tuple[str, Response]]) -> Response:
    """The verdict over all addresses: the first failure (naming its address), a failure
    when the addresses answer differently, else the common answer."""
    addresses = tuple(address for address, _ in answered)
    results = [result for _, result in answered]
    if len(results) == 1:
        return results[0]
    for address, (status, body, reason) in zip(addresses, results, strict=True):
        if status != 200:
            return status, body, f"{reason} (from {address}, one of {len(addresses)} addresses)"
    if len({body for _, body, _ in results}) > 1:
        shown = ", ".join(addresses)
        return None, b"", f"answers differently from its addresses {shown}"
    return results[0]


def _no_connection(result: Response) -> bool:
    status, _, reason = result
    return status is None and reason.startswith("is unreachable at")


@dataclass(frozen=True)
class _Hops:
    """Fetch a challenge from one first address, following redirects as the CA does."""

    host: str
    path: str
    http_port: int
    https_port: int
    timeout: float
    nameservers: Sequence[str]

    def shown(self, url: str) -> str:
        # The token is the secret-ish part of the path: never shown (status, events, logs).
        token = self.path.rsplit("/", 1)[-1]
        return url.replace(token, "<token>") if token else url

    def follow(self, address: str) -> Response:
        scheme, host, path, dial = "http", self.host, self.path, address
        for hop in range(MAX_REDIRECTS + 1):
            port = self.http_port if scheme == "http" else self.https_port
            status, body, reason, location = _get(scheme, dial, port, host, path, self.timeout)
            url = f"{scheme}://{host}{path}"
            if status not in _REDIRECTS or not location:
                if hop:
                    reason += f" at {self.shown(url)} after {hop} redirect(s)"
                return status, body, reason
            if hop == MAX_REDIRECTS:
                break
            target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
            shown = self.shown(target.geturl())
            if target.scheme not in ("http", "https") or not target.hostname:
                return status, b"", f"redirects to {shown}, which the CA does not follow"
            try:
                explicit = target.port
            except ValueError:
                explicit = -1
            if explicit not in (None, 80, 443):
                return status, b"", f"redirects to {shown}: the CA follows only ports 80 and 443"
            if target.hostname.lower() != host.lower():
                try:
                    dial = resolve_host(
                        target.hostname,
                        nameservers=[parse_nameserver(n) for n in self.nameservers],
                        timeout=self.timeout,
                    )[0]
                except ResolutionError as error:
                    return (
                        status,
                        b"",
                        f"redirects to {shown}, whose host does not resolve ({error})",
                    )
            scheme = target.scheme if explicit is None else ("http" if explicit == 80 else "https")
            host = target.hostname
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        return None, b"", f"redirects more than {MAX_REDIRECTS} times"


def _get(
    scheme: str, dial: str, port: int, host: str, path: str, timeout: float
) -> tuple[int | None, bytes, str, str | None]:
    """One GET; (status, body, reason, Location)."""
    connection = http.client.HTTPConnection(dial, port, timeout=timeout)
    try:
        if scheme == "https":
            raw = socket.create_connection((dial, port), timeout=timeout)
            # Let's Encrypt does not check the certificate of an HTTPS hop: a default or
            # self-signed one must not fail the self-check either.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            server_name = None if is_ip_address(host) else host
            try:
                connection.sock = context.wrap_socket(raw, server_hostname=server_name)
            except (ssl.SSLError, OSError) as error:
                raw.close()
                reason = getattr(error, "reason", None) or error.strerror or error
                return None, b"", f"fails the TLS handshake at {dial}:{port} ({reason})", None
        connection.request("GET", path, headers={"Host": host, "User-Agent": "webhook-cert"})
        response = connection.getresponse()
        body = response.read(4096)
        location = response.getheader("Location")
        return response.status, body, f"answered HTTP {response.status}", location
    except OSError as error:
        reason = f"is unreachable at {dial}:{port} ({error.strerror or error})"
        return None, b"", reason, None
    except http.client.HTTPException:  # e.g. a TLS-only port: no status line to read
        return None, b"", f"answered something other than HTTP at {dial}:{port}", None
    finally:
        connection.close()


Fetch = Callable[[str, str], Response]


class Http01Solver:
    """The HTTP-01 challenges of one order, on the cluster: present the answers through one
    solver Pod, Service and Ingress (or HTTPRoute), check them as the CA will, clean up."""

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
                path = challenge_path(answer.token)
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
