"""Pure (no I/O, no clock): operator settings, one frozen value read once at startup from
WEBHOOK_CERT_* variables.

Settings are the operator-wide defaults and knobs; everything per endpoint lives in the
WebhookEndpoint spec (see api/parse.py). `settings_from_env` takes the environment as a
mapping: the caller passes `os.environ`. docs/configuration.md lists the same variables
for operators of the operator; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from webhook_cert_operator.api.formats import (
    is_email_address,
    is_https_url,
    is_ip_address,
    parse_duration,
    split_host_port,
)
from webhook_cert_operator.certificates.timing import FAILURE_DELAYS
from webhook_cert_operator.solver.resources import DEFAULT_PORT as DEFAULT_SOLVER_PORT

LETSENCRYPT_PRODUCTION: Final = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING: Final = "https://acme-staging-v02.api.letsencrypt.org/directory"
DEFAULT_NAMESPACE: Final = "webhook-cert-system"
DEFAULT_SOLVER_IMAGE: Final = "webhook-cert-solver:0.1.0"

PREFIX: Final = "WEBHOOK_CERT_"


class ConfigError(ValueError):
    """A WEBHOOK_CERT_* variable with a value the operator cannot use."""


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings; every field has a default so `Settings()` is usable in tests."""

    # The operator's own namespace: ACME account key Secrets are kept here.
    namespace: str = DEFAULT_NAMESPACE
    # ACME directory used when a WebhookEndpoint names none.
    acme_server: str = LETSENCRYPT_PRODUCTION
    # Contact for the ACME account when a WebhookEndpoint names none.
    acme_email: str | None = None
    # RFC 8555 section 7.3: the client must agree to the CA's terms of service. The person
    # deploying the operator does that explicitly; the operator never agrees on its own.
    acme_agree_tos: bool = False
    # PEM file trusted for the ACME server's own HTTPS (a private CA such as Pebble);
    # None means the system's trust store.
    acme_ca_bundle: str | None = None
    # Image of the HTTP-01 solver Pod: the operator's own image running `webhook-cert solve`.
    solver_image: str = DEFAULT_SOLVER_IMAGE
    # Port the solver listens on. Its default lives with the solver's objects in
    # solver.resources, which `webhook-cert solve` loads without the operator's dependencies.
    solver_port: int = DEFAULT_SOLVER_PORT
    # The operator Pod's IP address (the downward API's status.podIP). Set, the operator
    # answers HTTP-01 challenges itself on solver_port: no Pod has to start per order.
    # Unset, each order gets a solver Pod running solver_image.
    solver_address: str | None = None
    # DNS servers ("host" or "host:port") for the HTTP-01 self-check and the served-chain
    # probe; empty means the system resolver.
    nameservers: tuple[str, ...] = ()
    # The self-check must see the key authorization this many times in a row before the
    # operator tells the CA to validate: a CA attempt that fails invalidates the order.
    self_check_successes: int = 3
    # Three passes half a second apart: a route that flaps (ingress replicas converging one
    # by one) shows within that second, and the CA is told to validate about 1 s after the
    # route appears rather than 2 s.
    self_check_interval: timedelta = timedelta(milliseconds=500)
    self_check_timeout: timedelta = timedelta(minutes=2)
    # While the solver Pod is still starting, the self-check's timeout starts again, up to
    # this much longer in all: a busy node is not a broken route.
    solver_start_timeout: timedelta = timedelta(minutes=10)
    metrics_port: int = 8080
    # Namespaces to watch; empty means the whole cluster.
    watch_namespaces: tuple[str, ...] = ()
    # At most this many served-chain checks run at once. A check mostly waits on the
    # network (its two handshakes run together, one round trip each), so 50 keep
    # 1,000 endpoints 100 ms away checked in about 4 s; each is a thread (started only
    # when checks run at once) and an API connection, a few hundred KiB at most.
    check_concurrency: int = 50
    # Issuances (and other change handlers) running at once: each waits on the solver, the
    # ingress and the CA in its own thread, so a burst of new endpoints is served together.
    # 100 at once on 2 cores: all orders start within 6 s, the last Ready 1.5x sooner
    # than with 60 (cert-manager's --max-concurrent-challenges), which left 40 waiting.
    # An idle thread costs about 30 KiB.
    max_concurrent_issuances: int = 100
    # Port the CA connects to for HTTP-01 (80 per RFC 8555 section 8.3); the self-check
    # dials the same port.
    http01_port: int = 80
    # Delays after the 1st, 2nd, ... failed issuance in a row; the last one repeats.
    failure_backoff: tuple[timedelta, ...] = FAILURE_DELAYS
    # How long a peered replica's keep-alive counts: a standby takes over at most this
    # long after the active replica stopped without saying goodbye (kopf's default is 60s).
    peering_lifetime: timedelta = timedelta(seconds=20)
    # Keep a WebhookEndpoint for each Ingress annotated webhookcert.dev/webhook-endpoint
    # (ingress_endpoints.py). Off by default: it needs the RBAC of the kustomize component
    # manifests/components/ingress-automation.
    ingress_automation: bool = False


_NAMESPACE_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _fail(variable: str, value: str, expected: str) -> ConfigError:
    return ConfigError(f"{variable}={value!r}: {expected}")


def _text(variable: str, value: str) -> str:
    if not value:
        raise _fail(variable, value, "must not be empty")
    return value


def _https_url(variable: str, value: str) -> str:
    # RFC 8555 section 6.1: ACME runs over HTTPS only.
    if not is_https_url(value):
        raise _fail(variable, value, "expected an https:// URL of an ACME directory")
    return value


def _email(variable: str, value: str) -> str:
    if not is_email_address(value):
        raise _fail(variable, value, "expected one email address such as ops@example.com")
    return value


def _boolean(variable: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _fail(variable, value, "expected true or false")


def _absolute_path(variable: str, value: str) -> str:
    if not value.startswith("/"):
        raise _fail(variable, value, "expected an absolute path to a PEM file")
    return value


def _integer(variable: str, value: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(value.strip(), 10)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise _fail(variable, value, f"expected a whole number {bound}")
    return number


def _port(variable: str, value: str) -> int:
    if value.startswith("tcp://"):
        # Kubernetes injects <SERVICE>_PORT=tcp://... for every Service in the namespace
        # ("service links"): a Service named like this variable overwrote it.
        raise _fail(
            variable,
            value,
            "expected a port number; this looks like a Kubernetes service link, set "
            "enableServiceLinks: false on the operator's Pod",
        )
    return _integer(variable, value, minimum=1, maximum=65535)


def _duration(variable: str, value: str, *, minimum: timedelta) -> timedelta:
    try:
        duration = parse_duration(value.strip())
    except ValueError as error:
        raise ConfigError(f"{variable}: {error}") from None
    if duration < minimum:
        raise _fail(variable, value, f"expected at least {minimum.total_seconds():g}s")
    return duration


def _durations(variable: str, value: str) -> tuple[timedelta, ...]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise _fail(
            variable, value, "expected a comma-separated list of durations such as 1m,10m,24h"
        )
    try:
        return tuple(_duration(variable, item, minimum=timedelta(seconds=1)) for item in items)
    except ConfigError as error:
        raise ConfigError(f"{error} (in {value.strip()!r})") from None


def _namespace(variable: str, value: str) -> str:
    if not _NAMESPACE_RE.fullmatch(value):
        raise _fail(variable, value, f"{value!r} is not a namespace name")
    return value


def _namespaces(variable: str, value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    for name in names:
        if not _NAMESPACE_RE.fullmatch(name):
            raise _fail(variable, value, f"{name!r} is not a namespace name")
    return names


def _nameservers(variable: str, value: str) -> tuple[str, ...]:
    servers = tuple(part.strip() for part in value.split(",") if part.strip())
    for server in servers:
        if not _is_nameserver(server):
            raise _fail(
                variable,
                value,
                f"{server!r} is not 'address' or 'address:port' (IPv6 with a port as '[::1]:53')",
            )
    return servers


def _is_nameserver(server: str) -> bool:
    # An address, not a name: a resolver is needed to find the resolver otherwise.
    try:
        return is_ip_address(split_host_port(server).host)
    except ValueError:
        return False


def _ip_address(variable: str, value: str) -> str:
    if not is_ip_address(value):
        raise _fail(variable, value, "expected the operator Pod's IP address (status.podIP)")
    return value


def _at_least(minimum: int) -> Callable[[str, str], int]:
    return lambda variable, value: _integer(variable, value, minimum=minimum)


def _lasting_at_least(minimum: timedelta) -> Callable[[str, str], timedelta]:
    return lambda variable, value: _duration(variable, value, minimum=minimum)


# Each variable's name after PREFIX, the Settings field it sets and how its value is read,
# in the order of Settings' fields.
_VARIABLES: Final[tuple[tuple[str, str, Callable[[str, str], Any]], ...]] = (
    ("NAMESPACE", "namespace", _namespace),
    ("ACME_SERVER", "acme_server", _https_url),
    ("ACME_EMAIL", "acme_email", _email),
    ("ACME_AGREE_TOS", "acme_agree_tos", _boolean),
    ("ACME_CA_BUNDLE", "acme_ca_bundle", _absolute_path),
    ("SOLVER_IMAGE", "solver_image", _text),
    ("SOLVER_PORT", "solver_port", _port),
    ("SOLVER_ADDRESS", "solver_address", _ip_address),
    ("NAMESERVERS", "nameservers", _nameservers),
    ("SELF_CHECK_SUCCESSES", "self_check_successes", _at_least(1)),
    (
        "SELF_CHECK_INTERVAL",
        "self_check_interval",
        _lasting_at_least(timedelta(milliseconds=100)),
    ),
    ("SELF_CHECK_TIMEOUT", "self_check_timeout", _lasting_at_least(timedelta(seconds=1))),
    ("SOLVER_START_TIMEOUT", "solver_start_timeout", _lasting_at_least(timedelta(0))),
    ("METRICS_PORT", "metrics_port", _port),
    ("NAMESPACES", "watch_namespaces", _namespaces),
    ("CHECK_CONCURRENCY", "check_concurrency", _at_least(1)),
    ("MAX_CONCURRENT_ISSUANCES", "max_concurrent_issuances", _at_least(1)),
    ("HTTP01_PORT", "http01_port", _port),
    ("FAILURE_BACKOFF", "failure_backoff", _durations),
    ("PEERING_LIFETIME", "peering_lifetime", _lasting_at_least(timedelta(seconds=15))),
    ("INGRESS_AUTOMATION", "ingress_automation", _boolean),
)

ENVIRONMENT_VARIABLES: Final = tuple(PREFIX + name for name, _, _ in _VARIABLES)
"""The names settings_from_env reads, in the order of Settings' fields (for docs and tests)."""


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables; unset or empty ones keep their default.

    Long because: this docstring is the table of variables (a test reads it).

    WEBHOOK_CERT_NAMESPACE          the operator's namespace (account key Secrets live here);
                                    default webhook-cert-system; set it from the Downward API
    WEBHOOK_CERT_ACME_SERVER        default ACME directory URL (https); default Let's Encrypt
                                    production
    WEBHOOK_CERT_ACME_EMAIL         default ACME account contact; default none
    WEBHOOK_CERT_ACME_AGREE_TOS     true to agree to the CA's terms of service; default false,
                                    and no account is created until it is true
    WEBHOOK_CERT_ACME_CA_BUNDLE     absolute path of a PEM bundle trusted for the ACME
                                    server's HTTPS (e.g. Pebble); default the system store
    WEBHOOK_CERT_SOLVER_IMAGE       image of the HTTP-01 solver Pod; default
                                    webhook-cert-solver:0.1.0 (the Dockerfile's solver stage)
    WEBHOOK_CERT_SOLVER_PORT        port the solver listens on; default 8089
    WEBHOOK_CERT_SOLVER_ADDRESS     the operator Pod's IP (downward API status.podIP): the
                                    operator answers HTTP-01 itself; default unset, a
                                    solver Pod per order (the manifests set it)
    WEBHOOK_CERT_NAMESERVERS        comma list of DNS servers, "address" or "address:port", for
                                    self-check and the served-chain probe; default system
    WEBHOOK_CERT_SELF_CHECK_SUCCESSES  consecutive self-check successes needed; default 3
    WEBHOOK_CERT_SELF_CHECK_INTERVAL   pause between self-check successes; default 500ms
    WEBHOOK_CERT_SELF_CHECK_TIMEOUT    give up the self-check after this long; default 2m
    WEBHOOK_CERT_SOLVER_START_TIMEOUT  how much longer the self-check may wait for a solver
                                    Pod that is still starting; default 10m
    WEBHOOK_CERT_METRICS_PORT       Prometheus metrics port; default 8080
    WEBHOOK_CERT_NAMESPACES         comma list of namespaces to watch; default all
    WEBHOOK_CERT_CHECK_CONCURRENCY  served-chain checks running at once; default 50
    WEBHOOK_CERT_MAX_CONCURRENT_ISSUANCES  issuances running at once; default 100
    WEBHOOK_CERT_HTTP01_PORT        port the CA and the self-check connect to; default 80
    WEBHOOK_CERT_FAILURE_BACKOFF    comma list of delays after successive failed issuances,
                                    the last repeating; default 1m,10m,100m,24h
    WEBHOOK_CERT_PEERING_LIFETIME   how long a peered replica's keep-alive counts; default
                                    20s, at least 15s
    WEBHOOK_CERT_INGRESS_AUTOMATION true to keep WebhookEndpoints for annotated Ingresses;
                                    default false

    Durations are Go-style ("2s", "90s", "2m"). Raises ConfigError naming the variable and
    its value when a value is malformed.
    """
    changes: dict[str, Any] = {}
    for name, field, read in _VARIABLES:
        value = env.get(PREFIX + name, "").strip()
        if value:
            changes[field] = read(PREFIX + name, value)
    return dataclasses.replace(Settings(), **changes)
