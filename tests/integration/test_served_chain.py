"""The operator checks what the endpoint really serves, as a strict webhook sender would.

Traefik serving the operator's own Secret is a valid chain; a server that presents only
the leaf of that same certificate is `incomplete-chain`, reported in status and in an
Event that names the missing issuer.
"""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    get_status,
    operator_deployment,
    wait_for_condition,
)
from tests.integration.test_issuance import secret_data
from tests.integration.workloads import tls_server_pod, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster)


def serve_through_traefik(cluster: Cluster, namespace: str, host: str, secret: str) -> None:
    """What a user does with the Secret: name it in their Ingress."""
    networking = client.NetworkingV1Api(cluster.api_client)
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_service(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "receiver"},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "receiver"}},
            }
        ),
    )
    networking.create_namespaced_ingress(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "receiver"},
                "spec": {
                    "ingressClassName": cluster.ingress_class,
                    "tls": [{"hosts": [host], "secretName": secret}],
                    "rules": [
                        {
                            "host": host,
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {"name": "receiver", "port": {"number": 80}}
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
        ),
    )


def trust_pebble(cluster: Cluster, namespace: str) -> dict[str, str]:
    """A ConfigMap with Pebble's roots: the CA a strict sender would trust in this test."""
    client.CoreV1Api(cluster.api_client).create_namespaced_config_map(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "pebble-roots"},
                "data": {"ca.crt": cluster.pebble_roots_pem().decode()},
            }
        ),
    )
    return {"kind": "ConfigMap", "name": "pebble-roots"}


def events(cluster: Cluster, namespace: str) -> list[dict[str, str]]:
    items = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    return [
        {"reason": e["reason"], "message": e["message"], "type": e["type"]} for e in items["items"]
    ]


def test_the_served_chain_is_valid_through_traefik_and_incomplete_from_a_leaf_only_server(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"hooks.{namespace}.example.test"
    serve_through_traefik(cluster, namespace, host, "hooks-tls")
    bundle = trust_pebble(cluster, namespace)
    body = endpoint(namespace, "hooks", [host], validation={"trustBundle": bundle})
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    valid = wait_for_condition(cluster, namespace, "hooks", "ChainValid", "True", timeout=180)

    served = get_status(cluster, namespace, "hooks")["validation"]
    assert valid["reason"] == "ChainValid"
    assert len(served["servedChain"]) >= 2
    assert served["tlsVersion"] in ("TLSv1.2", "TLSv1.3", "1.2", "1.3")

    data = secret_data(cluster, namespace, "hooks-tls")
    chain = x509.load_pem_x509_certificates(data["tls.crt"])
    leaf_only = tls_server_pod(
        cluster, namespace, "leaf-only", chain[0].public_bytes(Encoding.PEM), data["tls.key"]
    )
    cluster.kubectl(
        "patch",
        "whe",
        "hooks",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"validation": {"connectTo": leaf_only}}}),
    )
    invalid = wait_for_condition(
        cluster, namespace, "hooks", "ChainValid", "False", reason="IncompleteChain", timeout=60
    )

    missing_issuer = chain[0].issuer.rfc4514_string()
    issuer_cn = missing_issuer.split("CN=", 1)[-1].split(",")[0]
    assert issuer_cn in invalid["message"]
    warning = wait_for(
        lambda: next(
            (e for e in events(cluster, namespace) if e["reason"] == "IncompleteChain"), None
        ),
        timeout=30,
        what="an IncompleteChain event",
    )
    assert warning["type"] == "Warning"
    assert issuer_cn in warning["message"]
    assert wait_for_condition(cluster, namespace, "hooks", "Ready", "True", timeout=5)
