"""Adapter: HTTP-01 on the cluster: present the answers, check them as the CA will, clean up.

One set of solver objects per order, owned by the WebhookEndpoint and found again by
labels, so a restarted operator picks up where it left off and clean-up never misses an
object. By default the operator answers itself (`settings.solver_address`, its Pod's IP):
a selector-less Service, its EndpointSlice and an Ingress (or HTTPRoute), with the
answers in `OperatorAnswers`. Without an address, a solver Pod per order answers instead,
behind a Service that selects it. The self-check fetches each challenge URL by host name
through the ingress, as the CA will (RFC 8555 section 8.3), and only when every URL has
answered correctly several times in a row does the operator tell the CA to validate: a
failed validation costs a failed authorization at the CA, a failed self-check costs
nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook_cert_operator import naming
from webhook_cert_operator.api.formats import CHALLENGE_PATH_PREFIX, challenge_path
from webhook_cert_operator.api.types import API_VERSION, KIND, Endpoint, Http01Spec
from webhook_cert_operator.kube import AlreadyExists, Kube, NotServed
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver import resources
from webhook_cert_operator.solver.fetch import Fetch, fetch_over_http
from webhook_cert_operator.solver.operator_answers import OperatorAnswers
from webhook_cert_operator.solver.readiness import Readiness, pod_readiness

SOLVER_KINDS = ("Pod", "Service", "EndpointSlice", "Ingress", "HTTPRoute")
_BUILDERS = {
    "Pod": resources.build_pod,
    "Service": resources.build_service,
    "EndpointSlice": resources.build_endpoint_slice,
    "Ingress": resources.build_ingress,
    "HTTPRoute": resources.build_http_route,
}
_ANSWERED_BY_THE_OPERATOR = Readiness(
    ready=True,
    starting=False,
    why="the operator answers the challenges itself: the ingress controller must reach "
    "the operator's Pod on the solver port (a NetworkPolicy may block it)",
)


def solver_kinds(http01: Http01Spec, *, by_the_operator: bool = True) -> tuple[str, ...]:
    """What one order's solver is made of, the owner of the others first: a Service and
    its EndpointSlice when the operator answers, a Pod and its Service otherwise; then an
    HTTPRoute instead of the Ingress when the spec names Gateways."""
    route = "HTTPRoute" if http01.gateway_parent_refs else "Ingress"
    return (*_owner_and_backend(by_the_operator), route)


def _owner_and_backend(by_the_operator: bool) -> tuple[str, str]:
    """The object that owns the others, and the one beside it that gives the Service
    its backend."""
    return ("Service", "EndpointSlice") if by_the_operator else ("Pod", "Service")


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


class Http01Solver:
    """The HTTP-01 challenges of one order, on the cluster: present the answers (through
    `answers`, served by the operator, or a solver Pod), route them with a Service and an
    Ingress (or HTTPRoute), check them as the CA will, clean up.

    `answers` is needed when `settings.solver_address` is set (ValueError otherwise)."""

    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        *,
        answers: OperatorAnswers | None = None,
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
        if settings.solver_address is not None and answers is None:
            raise ValueError("settings.solver_address is set: the operator's answers are needed")
        self.answers = answers if settings.solver_address is not None else None

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
            address=self.settings.solver_address,
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
        """Ensure this order's answers are served and routed, and no other order's are.
        SelfCheckFailed when the spec names Gateways and the cluster has no Gateway API."""
        spec = self.solver_spec(endpoint, order_url, answers, http01)
        if self.answers is not None:
            self.answers.withdraw(_key(endpoint), keep_order=order_url)
            self.answers.publish(_key(endpoint), order_url, spec.challenges)
        mine, _ = self._sweep(endpoint, keep_order_url=order_url)
        kinds = solver_kinds(http01, by_the_operator=self.answers is not None)
        # The first object owns the others, so one delete removes them all.
        anchor = mine.get(kinds[0]) or self._create(kinds[0], spec)
        spec = dataclasses.replace(spec, anchor_uid=anchor.get("metadata", {}).get("uid"))
        for kind in kinds[1:]:
            found = mine.get(kind) or self._create(kind, spec)
            if kind == "EndpointSlice":
                self._point_at_this_replica(found, spec)

    def finish(self, endpoint: Endpoint, order_url: str) -> None:
        """The order is done: stop serving its answers and delete its objects, with one
        delete of the object that owns the others (`present` removed other orders'). An
        order that was never presented (its authorizations were valid already, or a
        restarted operator resumed it after validation) leaves nothing to delete by
        name, but maybe another order's objects: then every solver object of the
        endpoint goes."""
        if self.answers is not None:
            self.answers.withdraw(_key(endpoint))
        anchor = _owner_and_backend(self.answers is not None)[0]
        name = naming.solver_name(endpoint.name, order_url)
        if not self.kube.delete(anchor, endpoint.namespace, name):
            self._sweep(endpoint, keep_order_url=None)

    def _point_at_this_replica(
        self, endpoint_slice: dict[str, Any], spec: resources.SolverSpec
    ) -> None:
        """An order taken over from another replica (or a restarted operator) still routes
        to the old Pod's address: move it here (addressType cannot change, and the Pods of
        one Deployment share their IP family)."""
        if not endpoint_slice or resources.endpoint_slice_address(endpoint_slice) == spec.address:
            return
        built = resources.build_endpoint_slice(spec)
        self.kube.patch_endpoint_slice(
            spec.namespace,
            endpoint_slice["metadata"]["name"],
            {"endpoints": built["endpoints"], "ports": built["ports"]},
        )

    def _create(self, kind: str, spec: resources.SolverSpec) -> dict[str, Any]:
        """Create the order's `kind` object; the one found by its labels when it was created
        concurrently (a second replica, or a retried handler)."""
        try:
            return self.kube.create(kind, spec.namespace, _BUILDERS[kind](spec))
        except AlreadyExists:
            found = self.kube.list_labelled(kind, spec.namespace, spec.labels)
            return found[0] if found else {}  # deleted again: the self-check will say so
        except NotServed as error:  # no Gateway API here: say so where the user looks
            raise SelfCheckFailed(str(error)) from None

    def clean_up(self, endpoint: Endpoint, *, keep_order_url: str | None = None) -> int:
        """Stop serving the endpoint's answers and delete its solver objects (but those of
        `keep_order_url`); how many deletions were sent."""
        if self.answers is not None:
            self.answers.withdraw(_key(endpoint), keep_order=keep_order_url)
        return self._sweep(endpoint, keep_order_url=keep_order_url)[1]

    def _sweep(
        self, endpoint: Endpoint, *, keep_order_url: str | None
    ) -> tuple[dict[str, dict[str, Any]], int]:
        """List the endpoint's solver objects, one call per kind: delete those of other
        orders, and return those of `keep_order_url` by kind, with how many deletions were
        sent. Deleting the first object (a Pod, or a Service when the operator answers) is
        enough for those it owns (the garbage collector removes them); the others (made
        by an earlier version, or left without their owner) are deleted one by one."""
        labels = {
            naming.LABEL_ROLE: naming.ROLE_SOLVER,
            naming.LABEL_ENDPOINT: naming.label_value(endpoint.name),
        }
        keep = naming.order_hash(keep_order_url) if keep_order_url else None
        mine: dict[str, dict[str, Any]] = {}
        deleted = 0
        for kind in SOLVER_KINDS:
            for item in self.kube.list_labelled(kind, endpoint.namespace, labels):
                meta = item["metadata"]
                if keep is not None and meta.get("labels", {}).get(naming.LABEL_ORDER) == keep:
                    mine.setdefault(kind, item)
                elif not _owned_by_solver_object(meta):
                    deleted += self.kube.delete(kind, endpoint.namespace, meta["name"])
        return mine, deleted

    def self_check(self, endpoint: Endpoint, order_url: str, answers: Sequence[Answer]) -> None:
        """Wait until every answer is served correctly `self_check_successes` times in a row.

        Not served yet, an answer is fetched again every half second (at most every
        `self_check_interval`); in a streak, every `self_check_interval`. The time limit,
        `self_check_timeout`, is for the route through the ingress: while the order's
        solver Pod is still starting (a busy node), it starts again, up to
        `solver_start_timeout` in all. Raises SelfCheckFailed, naming the first URL that
        did not pass, what it got and, when the solver Pod is not ready, why.
        """
        settings = self.settings
        started = self.monotonic()
        deadline = started + settings.self_check_timeout.total_seconds()
        streaks = _Streaks(answers, settings.self_check_successes)
        while True:
            progressed = streaks.fetch_round(self.fetch)
            if streaks.done():
                return
            now = self.monotonic()
            if now >= deadline:
                readiness = self._solver_readiness(endpoint, order_url)
                if not readiness.starting or now - started >= _limit(settings):
                    raise SelfCheckFailed(streaks.failure(readiness))
                deadline = now + settings.self_check_timeout.total_seconds()
            interval = settings.self_check_interval.total_seconds()
            self.sleep(interval if progressed else min(interval, _NOT_SERVED_PACE))

    def _solver_readiness(self, endpoint: Endpoint, order_url: str) -> Readiness:
        if self.answers is not None:
            return _ANSWERED_BY_THE_OPERATOR
        pods = self.kube.list_labelled(
            "Pod", endpoint.namespace, naming.solver_labels(endpoint.name, order_url)
        )
        return pod_readiness(pods[0] if pods else None)


# An answer not served yet is fetched this often: the route usually appears within
# seconds of the solver's objects, and a fetch through the ingress costs next to nothing.
_NOT_SERVED_PACE = 0.5


def _owned_by_solver_object(meta: Mapping[str, Any]) -> bool:
    """Owned by a solver Pod or Service: deleting that owner deletes this one too."""
    return any(ref.get("kind") in ("Pod", "Service") for ref in meta.get("ownerReferences") or [])


def _key(endpoint: Endpoint) -> tuple[str, str]:
    return (endpoint.namespace, endpoint.name)


def _limit(settings: Settings) -> float:
    """How long a self-check may wait in all for a solver Pod that is still starting."""
    return (settings.solver_start_timeout + settings.self_check_timeout).total_seconds()


class _Streaks:
    """Each answer's run of correct fetches in a row, and what it last got when wrong."""

    def __init__(self, answers: Sequence[Answer], needed: int) -> None:
        self.answers, self.needed = answers, needed
        self.streak: dict[Answer, int] = {answer: 0 for answer in answers}
        # Every unfinished answer is fetched before the deadline is looked at, so one that
        # never failed has answered correctly, only too few times.
        too_few = f"answered correctly, but not {needed} times in a row"
        self.last: dict[Answer, str] = {answer: too_few for answer in answers}

    def fetch_round(self, fetch: Fetch) -> bool:
        """Fetch every unfinished answer once; whether any of them was served correctly."""
        progressed = False
        for answer in self.answers:
            if self.streak[answer] >= self.needed:
                continue
            status, body, reason = fetch(answer.host, challenge_path(answer.token))
            if status == 200 and body.strip() == answer.key_authorization.encode():
                self.streak[answer] += 1
                progressed = True
            else:
                self.streak[answer] = 0
                self.last[answer] = (
                    "answered with something other than the key authorization"
                    if status == 200
                    else reason
                )
        return progressed

    def done(self) -> bool:
        return all(count >= self.needed for count in self.streak.values())

    def failure(self, readiness: Readiness) -> str:
        failing = next(a for a in self.answers if self.streak[a] < self.needed)
        hint = readiness.why
        if readiness.ready:
            hint = (
                "Check that the Ingress class is served by an ingress controller and that "
                f"the host name resolves to it; {readiness.why}"
            )
        return f"{failing.shown_url} {self.last[failing]}; the CA would fail the same way. {hint}"
