"""The API server itself enforces the WebhookEndpoint CRD: refusals, messages and defaults.

Each refused spec is also refused by parse.parse_spec, so an object stored under an older
CRD (or on a server without CEL) meets the same rules in the operator. Accepted specs are
created with a server-side dry run: the server validates and defaults them exactly as for
a real create, and no operator that may be watching gets to act on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import parse_time
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import RenewalStatus
from webhook_cert_operator.settings import Settings

pytestmark = pytest.mark.cluster

CRD_PATH = Path(__file__).resolve().parents[2] / "manifests" / "crd" / "webhookendpoints.yaml"
CRD_NAME = "webhookendpoints.webhookcert.dev"


@pytest.fixture(scope="module")
def crd(cluster: Any) -> None:
    """Install (or update) the CRD; it stays installed for the operator and later tests."""
    cluster.kubectl("apply", "-f", str(CRD_PATH))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")


def manifest(namespace: str, spec: dict[str, Any], name: str = "hooks") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def refused(cluster: Any, namespace: str, spec: dict[str, Any], name: str = "hooks") -> str:
    """Create the object for real and return the API server's refusal."""
    result = cluster.kubectl(
        "create", "-f", "-", input=manifest(namespace, spec, name), check=False
    )
    assert result.returncode != 0, f"the API server accepted {spec}"
    assert "is invalid" in result.stderr, result.stderr
    return str(result.stderr)


def accepted(cluster: Any, namespace: str, spec: dict[str, Any], name: str = "hooks") -> Any:
    """Create the object in a server-side dry run; return it as stored, defaults applied."""
    result = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=manifest(namespace, spec, name)
    )
    return json.loads(result.stdout)


HOST = "hooks.example.com"

REFUSALS = [
    pytest.param(
        {"dnsNames": [HOST, "*.example.com"]},
        ['spec.dnsNames[1]: Invalid value: "*.example.com"', "HTTP-01 cannot validate wildcard"],
        id="wildcard",
    ),
    pytest.param(
        {"dnsNames": ["192.0.2.7"]},
        ['spec.dnsNames[0]: Invalid value: "192.0.2.7"', "is an IP address"],
        id="ipv4-address",
    ),
    pytest.param(
        {"dnsNames": ["2001:db8::7"]},
        ["spec.dnsNames[0]", "is an IP address"],
        id="ipv6-address",
    ),
    pytest.param(
        {"dnsNames": [HOST, HOST]},
        ['spec.dnsNames[1]: Duplicate value: "hooks.example.com"'],
        id="duplicate-names",
    ),
    pytest.param(
        {"dnsNames": ["Hooks.Example.com"]},
        ["spec.dnsNames[0]", "is not a lowercase fully qualified DNS name"],
        id="uppercase-name",
    ),
    pytest.param(
        {"dnsNames": ["localhost"]},
        ["spec.dnsNames[0]", "is not a lowercase fully qualified DNS name"],
        id="single-label-name",
    ),
    pytest.param(
        {"dnsNames": [f"h{i}.example.com" for i in range(101)]},
        ["spec.dnsNames: Too many: 101: must have at most 100 items"],
        id="101-names",
    ),
    pytest.param({"dnsNames": []}, ["spec.dnsNames"], id="no-names"),
    pytest.param({}, ["spec.dnsNames: Required value"], id="names-missing"),
    pytest.param(
        {"dnsNames": [HOST], "secretName": "Hooks_TLS"},
        ['spec.secretName: Invalid value: "Hooks_TLS"', "is not a valid Secret name"],
        id="bad-secret-name",
    ),
    pytest.param(
        {"dnsNames": [HOST], "privateKey": {"algorithm": "ECDSA", "size": 2048}},
        ["spec.privateKey.size", "ECDSA takes 256 or 384"],
        id="ecdsa-2048",
    ),
    pytest.param(
        {"dnsNames": [HOST], "privateKey": {"size": 2048}},
        ["spec.privateKey.size", "ECDSA takes 256 or 384"],
        id="default-ecdsa-2048",
    ),
    pytest.param(
        {"dnsNames": [HOST], "privateKey": {"algorithm": "RSA", "size": 384}},
        ["spec.privateKey.size", "RSA takes 2048, 3072 or 4096"],
        id="rsa-384",
    ),
    pytest.param(
        {"dnsNames": [HOST], "renewBefore": "30d"},
        ['spec.renewBefore: Invalid value: "30d"', "is not a duration"],
        id="renew-before-days",
    ),
    pytest.param(
        {"dnsNames": [HOST], "renewBefore": "0s"},
        ["spec.renewBefore", "must be longer than zero"],
        id="renew-before-zero",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"interval": "1 hour"}},
        ["spec.validation.interval", "is not a duration"],
        id="interval-words",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"interval": "30s"}},
        ['spec.validation.interval: Invalid value: "30s": must be at least 1m'],
        id="interval-30s",
    ),
    pytest.param(
        {"dnsNames": [HOST], "acme": {"server": "http://acme.example/directory"}},
        ["spec.acme.server", "https://"],
        id="acme-over-http",
    ),
    pytest.param(
        {"dnsNames": [HOST], "acme": {"email": "mailto:ops@example.com"}},
        ["spec.acme.email", "without"],
        id="email-with-mailto",
    ),
    pytest.param(
        {"dnsNames": [HOST], "acme": {"externalAccountBinding": {"keyID": "kid"}}},
        ["spec.acme.externalAccountBinding.keySecretRef: Required value"],
        id="eab-without-secret",
    ),
    pytest.param(
        {"dnsNames": [HOST], "http01": {"serviceType": "LoadBalancer"}},
        ['spec.http01.serviceType: Unsupported value: "LoadBalancer"'],
        id="load-balancer-solver",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"url": "http://hooks.example.com/"}},
        ["spec.validation.url", "https://"],
        id="validation-over-http",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"connectTo": "lb.example.com"}},
        ["spec.validation.connectTo", "host:port"],
        id="connect-to-without-port",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"trustBundle": {"name": "roots"}}},
        ["spec.validation.trustBundle.kind: Required value"],
        id="trust-bundle-without-kind",
    ),
    pytest.param(
        {"dnsNames": [HOST], "validation": {"minTLSVersion": "1.1"}},
        ['spec.validation.minTLSVersion: Unsupported value: "1.1"'],
        id="tls-1.1",
    ),
    pytest.param(
        {"dnsNames": [HOST], "secretDeletionPolicy": "Orphan"},
        ['spec.secretDeletionPolicy: Unsupported value: "Orphan"'],
        id="deletion-policy-orphan",
    ),
    pytest.param(
        {"dnsNames": [HOST], "additionalOutputFormats": [{"type": "DER"}]},
        ['spec.additionalOutputFormats[0].type: Unsupported value: "DER"'],
        id="output-format-der",
    ),
    pytest.param(
        {"dnsNames": [HOST], "additionalOutputFormats": [{}]},
        ["spec.additionalOutputFormats[0].type: Required value"],
        id="output-format-without-type",
    ),
    pytest.param(
        {
            "dnsNames": [HOST],
            "additionalOutputFormats": [{"type": "CombinedPEM"}, {"type": "CombinedPEM"}],
        },
        ["spec.additionalOutputFormats[1]: Duplicate value"],
        id="output-format-twice",
    ),
    pytest.param(
        {"dnsNames": [HOST], "restartTargets": [{"kind": "DaemonSet", "name": "apache"}]},
        ['spec.restartTargets[0].kind: Unsupported value: "DaemonSet"'],
        id="restart-a-daemonset",
    ),
    pytest.param(
        {"dnsNames": [HOST], "restartTargets": [{"kind": "Deployment"}]},
        ["spec.restartTargets[0].name: Required value"],
        id="restart-target-without-name",
    ),
    pytest.param(
        {"dnsNames": [HOST], "restartTargets": [{"kind": "Deployment", "name": "Apache_2"}]},
        ["spec.restartTargets[0].name", "is not a valid Deployment or StatefulSet name"],
        id="restart-target-bad-name",
    ),
    pytest.param(
        {
            "dnsNames": [HOST],
            "restartTargets": [
                {"kind": "Deployment", "name": "apache"},
                {"kind": "Deployment", "name": "apache"},
            ],
        },
        ["spec.restartTargets[1]: Duplicate value"],
        id="restart-target-twice",
    ),
    pytest.param(
        {
            "dnsNames": [HOST],
            "restartTargets": [{"kind": "Deployment", "name": f"w{i}"} for i in range(11)],
        },
        ["spec.restartTargets: Too many: 11: must have at most 10 items"],
        id="restart-11-targets",
    ),
    pytest.param(
        {"dnsNames": [HOST], "checkOnly": {}, "acme": {"email": "ops@example.com"}},
        ["spec.acme", "a check-only endpoint obtains no certificate: remove spec.acme"],
        id="check-only-with-acme",
    ),
    pytest.param(
        {"dnsNames": [HOST], "checkOnly": {}, "secretName": "hooks-tls"},
        ["spec.secretName", "remove spec.secretName or spec.checkOnly"],
        id="check-only-with-secret-name",
    ),
    pytest.param(
        {"dnsNames": [HOST], "checkOnly": {}, "http01": {"ingressClassName": "nginx"}},
        ["spec.http01", "a check-only endpoint solves no challenge"],
        id="check-only-with-an-ingress-class",
    ),
    pytest.param(
        {"dnsNames": [HOST], "checkOnly": {}, "privateKey": {"algorithm": "RSA"}},
        ["spec.privateKey", "a check-only endpoint makes no key"],
        id="check-only-with-a-key-type",
    ),
    pytest.param(
        {"dnsNames": [HOST], "checkOnly": {"secretRef": {}}},
        ["spec.checkOnly.secretRef.name: Required value"],
        id="check-only-secret-ref-without-name",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), REFUSALS)
def test_the_api_server_refuses_a_bad_spec_with_a_clear_message(
    cluster: Any, namespace: str, crd: None, spec: dict[str, Any], expected: list[str]
) -> None:
    message = refused(cluster, namespace, spec)
    for fragment in expected:
        assert fragment in message
    stored = cluster.kubectl("get", "webhookendpoints", "-n", namespace, "-o", "name")
    assert stored.stdout.strip() == ""


@pytest.mark.parametrize(("spec", "expected"), REFUSALS)
def test_the_operator_refuses_what_the_api_server_refuses(
    spec: dict[str, Any], expected: list[str]
) -> None:
    # No cluster needed, but kept beside the table it mirrors.
    with pytest.raises(api.SpecError):
        parse_spec(spec, name="hooks", settings=Settings())


def test_a_name_too_long_for_the_default_secret_name_is_refused(
    cluster: Any, namespace: str, crd: None
) -> None:
    message = refused(cluster, namespace, {"dnsNames": [HOST]}, name="h" * 250)
    assert "spec.secretName" in message
    assert "set spec.secretName" in message
    # With a Secret name of its own the long name is fine.
    accepted(cluster, namespace, {"dnsNames": [HOST], "secretName": "hooks-tls"}, name="h" * 250)


def test_a_minimal_spec_is_accepted_and_gets_the_schema_defaults(
    cluster: Any, namespace: str, crd: None
) -> None:
    stored = accepted(cluster, namespace, {"dnsNames": [HOST]})

    assert stored["spec"] == {
        "dnsNames": [HOST],
        "http01": {"serviceType": "ClusterIP"},
        "privateKey": {"algorithm": "ECDSA", "rotationPolicy": "Always"},
        "validation": {"interval": "1h", "minTLSVersion": "1.2", "sender": "generic"},
        "secretDeletionPolicy": "Retain",
    }
    # What the API server stores, the operator reads, filling in the rest.
    spec = parse_spec(stored["spec"], name="hooks", settings=Settings())
    assert spec.secret_name == "hooks-tls"
    assert spec.private_key.size == 256
    assert spec.validation.url == f"https://{HOST}/"
    assert spec.secret_deletion_policy == "Retain"


def test_a_full_spec_is_accepted_as_written(cluster: Any, namespace: str, crd: None) -> None:
    spec = {
        "dnsNames": [HOST, "api.example.com"],
        "secretName": "hooks-tls",
        "acme": {
            "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
            "email": "ops@example.com",
            "externalAccountBinding": {"keyID": "kid", "keySecretRef": {"name": "eab", "key": "k"}},
            "preferredChain": "ISRG Root X1",
            "profile": "tlsserver",
        },
        "http01": {
            "ingressClassName": "traefik",
            "serviceType": "NodePort",
            "podTemplate": {
                "labels": {"team": "payments"},
                "annotations": {"example.com/note": "solver"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": 1}},
            },
            "ingressTemplate": {"labels": {"team": "payments"}, "annotations": {"a.io/b": "c"}},
        },
        "privateKey": {"algorithm": "RSA", "size": 3072, "rotationPolicy": "Never"},
        "renewBefore": "720h",
        "validation": {
            "url": f"https://{HOST}/webhooks/rc",
            "interval": "30m",
            "connectTo": "[2001:db8::1]:443",
            "trustBundle": {"kind": "ConfigMap", "name": "roots"},
            "minTLSVersion": "1.3",
            "sender": "ringcentral",
        },
        "secretDeletionPolicy": "Delete",
        "additionalOutputFormats": [{"type": "CertbotFiles"}, {"type": "CombinedPEM"}],
        "restartTargets": [
            {"kind": "Deployment", "name": "apache"},
            {"kind": "StatefulSet", "name": "apache"},
        ],
    }

    stored = accepted(cluster, namespace, spec)

    expected = json.loads(json.dumps(spec))
    expected["validation"]["trustBundle"]["key"] = "ca.crt"
    assert stored["spec"] == expected
    parsed = parse_spec(stored["spec"], name="hooks", settings=Settings())
    assert parsed.private_key == api.PrivateKeySpec("RSA", 3072, "Never")
    assert parsed.validation.sender == "ringcentral"
    assert parsed.secret_deletion_policy == "Delete"
    assert parsed.additional_output_formats == ("CertbotFiles", "CombinedPEM")
    assert parsed.restart_targets == (
        api.RestartTarget("Deployment", "apache"),
        api.RestartTarget("StatefulSet", "apache"),
    )


def test_ten_restart_targets_are_accepted(cluster: Any, namespace: str, crd: None) -> None:
    targets = [{"kind": "Deployment", "name": f"web-{i}"} for i in range(10)]
    stored = accepted(cluster, namespace, {"dnsNames": [HOST], "restartTargets": targets})
    assert stored["spec"]["restartTargets"] == targets


def test_the_status_subresource_keeps_the_renewal_fields(
    cluster: Any, namespace: str, crd: None
) -> None:
    # Structural pruning drops status fields the schema does not know: what the operator
    # writes for renewal and back-off must survive a status patch. The patch is a
    # server-side dry run, so an operator watching the namespace sees no change.
    cluster.kubectl("create", "-f", "-", input=manifest(namespace, {"dnsNames": [HOST]}))
    written = {
        "renewal": RenewalStatus(
            cert_id="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
            ari_window=(
                parse_time("2026-04-20T12:00:00Z"),
                parse_time("2026-04-22T12:00:00Z"),
            ),
            ari_selected_time=parse_time("2026-04-21T07:00:00Z"),
            ari_fetched=parse_time("2026-03-01T12:00:00Z"),
            ari_next_fetch=parse_time("2026-03-01T18:00:00Z"),
            ari_explanation_url="https://ca.test/ari",
            ari_error="the CA could not be reached",
            last_renew_request="2026-03-01",
        ).to_status(),
        "nextAttemptTime": "2026-03-01T12:10:00Z",
        "lastFailureReason": "too many certificates (urn:ietf:params:acme:error:rateLimited)",
        "retryAfter": "2026-03-01T13:00:00Z",
    }
    result = cluster.kubectl(
        "patch",
        "webhookendpoints",
        "hooks",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "--dry-run=server",
        "-o",
        "json",
        "-p",
        json.dumps({"status": written}),
    )
    status = json.loads(result.stdout)["status"]
    assert {key: status.get(key) for key in written} == written


def test_a_hundred_names_are_accepted(cluster: Any, namespace: str, crd: None) -> None:
    names = [f"h{i}.example.com" for i in range(100)]
    assert accepted(cluster, namespace, {"dnsNames": names})["spec"]["dnsNames"] == names


def test_status_cannot_be_set_through_the_main_resource(
    cluster: Any, namespace: str, crd: None
) -> None:
    document = yaml.safe_load(manifest(namespace, {"dnsNames": [HOST]}))
    document["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    result = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=yaml.safe_dump(document)
    )
    assert "status" not in json.loads(result.stdout)


def test_kubectl_explain_documents_the_fields(cluster: Any, crd: None) -> None:
    result = cluster.kubectl("explain", "whe.spec.dnsNames")
    assert "HTTP-01" in result.stdout


def test_a_two_line_check_only_spec_is_accepted_and_read_as_check_only(
    cluster: Any, namespace: str, crd: None
) -> None:
    spec = {"dnsNames": [HOST], "checkOnly": {"secretRef": {"name": "hooks-example-tls"}}}
    stored = accepted(cluster, namespace, spec, name="h" * 250)  # no default Secret name

    parsed = parse_spec(stored["spec"], name="h" * 250, settings=Settings())
    assert parsed.check_only == api.CheckOnlySpec(secret_name="hooks-example-tls")
