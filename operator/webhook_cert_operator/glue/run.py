"""Glue: `webhook-cert run`, start the operator (kopf) with settings from the environment.

Settings are `WEBHOOK_CERT_*` environment variables (docs/configuration.md); the flags
here only choose how the process itself runs. Dependencies are built once, here, and
reach the handlers through kopf's memo.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhook_cert_operator import kube_client
    from webhook_cert_operator.acme.accounts import AcmeAccounts
    from webhook_cert_operator.glue.deps import Deps
    from webhook_cert_operator.kube import Kube
    from webhook_cert_operator.metrics import Metrics
    from webhook_cert_operator.settings import Settings
    from webhook_cert_operator.solver.operator_answers import OperatorAnswers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8081/healthz",
        metavar="URL",
        help="kopf liveness endpoint (default: %(default)s); empty to disable",
    )
    parser.add_argument(
        "--peering",
        default="",
        metavar="NAME",
        help="kopf peering object name: replicas sharing it run one at a time "
        "(default: standalone, for a single replica)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority: the replica with the highest one works, the others wait "
        "(default: random, so that two replicas never tie and both pause)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text: one line per message (default); json: one JSON object per line, "
        "with the endpoint as an `object` reference (kopf's JSON log format)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(handler=run)


LOG_FORMATS = ("text", "json")
# Free C heap pages go back to the system this often (heap.py). With 1,000 endpoints
# created at once the operator's Pod held 360 MiB 30 s later, 117 MiB of it freed heap;
# a release takes a few milliseconds, so every 30 s costs nothing and an idle operator
# holds what it uses within half a minute of a burst.
HEAP_RELEASE_INTERVAL = 30.0
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str, *, verbose: bool) -> None:
    """Log to stderr as `--log-format` says.

    json is kopf's own JSON format, the one `kopf run --log-format=json` uses (kopf's
    `configure` and `ObjectJsonFormatter` in kopf/_core/actions/loggers.py, over
    python-json-logger): each line is an object with `message`, `severity`, `timestamp`,
    the logger's name and, for messages about one WebhookEndpoint, `object` (its
    apiVersion, kind, namespace, name and uid). The text format is unchanged.
    """
    import kopf

    if log_format == "json":
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON, log_prefix=False)
    else:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=TEXT_FORMAT)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `webhook-cert solve` and `check` never load kopf or the clients.
    import kopf

    from webhook_cert_operator import heap
    from webhook_cert_operator.glue import handlers
    from webhook_cert_operator.settings import ConfigError, settings_from_env

    configure_logging(args.log_format, verbose=args.verbose)
    try:
        settings = settings_from_env(os.environ)
    except ConfigError as error:
        print(f"webhook-cert run: {error}", file=sys.stderr)
        return 2
    try:
        deps = _dependencies(settings)
    except OSError as error:  # the HTTP-01 answer server's port is taken
        print(
            f"webhook-cert run: cannot answer HTTP-01 on port {settings.solver_port}: "
            f"{error.strerror}",
            file=sys.stderr,
        )
        return 2
    if settings.ingress_automation:
        handlers.register_ingress_automation()
    heap.start_releasing(HEAP_RELEASE_INTERVAL)
    kopf.run(
        clusterwide=not settings.watch_namespaces,
        namespaces=settings.watch_namespaces,
        standalone=not args.peering,
        peering_name=args.peering or None,
        priority=args.priority if args.priority is not None else random.randint(1, 1_000_000),
        liveness_endpoint=args.liveness or None,
        memo=deps,
    )
    return 0


def _dependencies(settings: Settings) -> Deps:
    """The adapters and orchestration the handlers use, built once."""
    from webhook_cert_operator.certificates.issuance import Issuer
    from webhook_cert_operator.certificates.lifecycle import Lifecycle
    from webhook_cert_operator.checking.checker import ChainChecker
    from webhook_cert_operator.glue.deps import Deps, EndpointLocks
    from webhook_cert_operator.metrics import Metrics
    from webhook_cert_operator.solver.http01 import Http01Solver

    kube = _kube(settings)
    metrics = Metrics()
    accounts = _acme_accounts(settings, metrics)
    solver = Http01Solver(kube, settings, answers=_operator_answers(settings))
    issuer = Issuer(kube, settings, solver, accounts.client)
    locks = EndpointLocks()

    def clock() -> datetime:
        return datetime.now(UTC)

    life = Lifecycle(
        settings=settings, kube=kube, issuer=issuer, metrics=metrics, locks=locks, clock=clock
    )
    return Deps(
        settings=settings,
        kube=kube,
        metrics=metrics,
        locks=locks,
        lifecycle=life,
        checker=ChainChecker(kube, settings, metrics),
        clock=clock,
    )


def _operator_answers(settings: Settings) -> OperatorAnswers | None:
    """With WEBHOOK_CERT_SOLVER_ADDRESS, the operator's own HTTP-01 answer server, listening
    on the solver port from the start (a replica on standby answers nothing, and is ready
    to once it takes over); None otherwise."""
    from webhook_cert_operator.solver.operator_answers import OperatorAnswers

    if settings.solver_address is None:
        return None
    answers = OperatorAnswers()
    answers.start("::" if ":" in settings.solver_address else "0.0.0.0", settings.solver_port)
    return answers


def _kube(settings: Settings) -> Kube:
    """The Kubernetes API adapter: the Pod's ServiceAccount, else the kubeconfig (read by
    kopf's own loader, which kopf uses for its watches too)."""
    import kopf

    from webhook_cert_operator import kube_client
    from webhook_cert_operator.kube import Kube

    credentials = kube_client.in_cluster()
    if credentials is None:
        credentials = _kubeconfig_credentials(
            kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
        )
    # One connection per thread that may call the API at once (issuances, checks), or
    # urllib3 drops the extras and opens a new TLS connection each time.
    connections = settings.max_concurrent_issuances + settings.check_concurrency
    return Kube(kube_client.ApiClient(credentials, connections=connections))


def _kubeconfig_credentials(info: Any) -> kube_client.Credentials:
    """kopf's `ConnectionInfo` from a kubeconfig as `kube_client.Credentials`; its inline
    `*-data` values are written to private files. RuntimeError without a kubeconfig."""
    from webhook_cert_operator import kube_client

    if info is None:
        raise RuntimeError("no Kubernetes credentials: neither a ServiceAccount nor a kubeconfig")

    def path(value: Any, data: Any, suffix: str) -> str | None:
        if data:
            return kube_client.data_file(data, suffix)
        return str(value) if value else None

    return kube_client.Credentials(
        server=info.server,
        ca_path=path(info.ca_path, info.ca_data, ".crt"),
        insecure=bool(info.insecure),
        token=info.token,
        cert_path=path(info.certificate_path, info.certificate_data, ".crt"),
        key_path=path(info.private_key_path, info.private_key_data, ".key"),
    )


def _acme_accounts(settings: Settings, metrics: Metrics) -> AcmeAccounts:
    """The registry of ACME clients, one per account, that trust the configured CA bundle
    and report each request to the metrics."""
    from webhook_cert_operator.acme.accounts import AcmeAccounts
    from webhook_cert_operator.acme.client import AcmeClient

    def connect(server: str, account_key_pem: bytes) -> AcmeClient:
        return AcmeClient(
            server,
            account_key_pem,
            ca_bundle=settings.acme_ca_bundle,
            observer=metrics.observe_acme_request,
            # Every issuance thread may talk to the CA at once: with fewer pooled
            # connections, the extras are closed after each request and each next one
            # pays for a new TLS handshake.
            connections=settings.max_concurrent_issuances,
        )

    return AcmeAccounts(connect)
