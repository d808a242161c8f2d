"""Unit tests for api/parse.py and api/parse_http01.py: every default a spec gets, every
refusal naming its field, check-only endpoints, Gateway API parentRefs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from webhook_cert_operator.api import types
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.types import (
    AcmeSpec,
    ExternalAccountBinding,
    ParentReference,
    PrivateKeySpec,
    RestartTarget,
    SecretKeyRef,
    SpecError,
    TrustBundleRef,
    to_plain,
)
from webhook_cert_operator.settings import LETSENCRYPT_PRODUCTION, Settings
from webhook_cert_operator.solver.resources import SolverSpec, SolverSpecError

SETTINGS = Settings(acme_server="https://acme.test/directory", acme_email="ops@example.com")


def parse(**spec: Any) -> Any:
    spec.setdefault("dnsNames", ["hooks.example.com"])
    return parse_spec(spec, name="ringcentral", settings=SETTINGS)


def refusal(**spec: Any) -> str:
    with pytest.raises(SpecError) as caught:
        parse(**spec)
    return str(caught.value)


# --- defaults ----------------------------------------------------------------------------


def test_a_minimal_spec_gets_every_default() -> None:
    spec = parse_spec({"dnsNames": ["hooks.example.com"]}, name="rc", settings=SETTINGS)

    assert spec.dns_names == ("hooks.example.com",)
    assert spec.secret_name == "rc-tls"
    assert spec.acme == AcmeSpec(server="https://acme.test/directory", email="ops@example.com")
    assert spec.http01.ingress_class_name is None
    assert spec.http01.service_type == "ClusterIP"
    assert dict(spec.http01.pod_template.labels) == {}
    assert spec.http01.pod_template.tolerations == ()
    assert dict(spec.http01.pod_template.resources) == {}
    assert dict(spec.http01.ingress_template.annotations) == {}
    assert spec.private_key == PrivateKeySpec(algorithm="ECDSA", size=256, rotation_policy="Always")
    assert spec.renew_before is None
    assert spec.validation.url == "https://hooks.example.com/"
    assert spec.validation.interval == timedelta(hours=1)
    assert spec.validation.connect_to is None
    assert spec.validation.trust_bundle is None
    assert spec.validation.min_tls_version == "1.2"
    assert spec.secret_deletion_policy == "Retain"
    assert spec.additional_output_formats == ()
    assert spec.restart_targets == ()


def test_the_default_validation_url_uses_the_first_name() -> None:
    spec = parse(dnsNames=["b.example.com", "a.example.com"])
    assert spec.validation.url == "https://b.example.com/"
    assert spec.dns_names == ("b.example.com", "a.example.com")


def test_acme_defaults_come_from_the_operator_settings() -> None:
    spec = parse_spec({"dnsNames": ["a.example.com"]}, name="x", settings=Settings())
    assert spec.acme.server == LETSENCRYPT_PRODUCTION
    assert spec.acme.email is None


def test_acme_fields_in_the_spec_override_the_settings() -> None:
    spec = parse(acme={"server": "https://ca.example/dir", "email": "me@example.org"})
    assert spec.acme.server == "https://ca.example/dir"
    assert spec.acme.email == "me@example.org"


@pytest.mark.parametrize(
    ("private_key", "expected"),
    [
        pytest.param({}, PrivateKeySpec("ECDSA", 256, "Always"), id="nothing-ecdsa-256"),
        pytest.param({"algorithm": "RSA"}, PrivateKeySpec("RSA", 2048, "Always"), id="rsa-2048"),
        pytest.param({"algorithm": "ECDSA", "size": 384}, PrivateKeySpec("ECDSA", 384), id="p384"),
        pytest.param(
            {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Never"},
            PrivateKeySpec("RSA", 4096, "Never"),
            id="rsa-4096-never",
        ),
        pytest.param({"size": 384}, PrivateKeySpec("ECDSA", 384), id="size-only-means-ecdsa"),
    ],
)
def test_the_key_size_defaults_per_algorithm(
    private_key: dict[str, Any], expected: PrivateKeySpec
) -> None:
    assert parse(privateKey=private_key).private_key == expected


def test_a_full_spec_is_read_field_by_field() -> None:
    spec = parse(
        dnsNames=["hooks.example.com", "api.example.com"],
        secretName="hooks-tls",
        acme={
            "server": "https://10.244.0.5:14000/dir",
            "email": "ops@example.com",
            "externalAccountBinding": {
                "keyID": "kid-1",
                "keySecretRef": {"name": "eab", "key": "hmac"},
            },
            "preferredChain": "ISRG Root X1",
            "profile": "shortlived",
        },
        http01={
            "ingressClassName": "traefik",
            "serviceType": "NodePort",
            "podTemplate": {
                "labels": {"team": "payments"},
                "annotations": {"example.com/note": "anything goes here"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": 1}},
            },
            "ingressTemplate": {"labels": {"a": "b"}, "annotations": {"x.io/y": "z"}},
        },
        renewBefore="720h",
        validation={
            "url": "https://hooks.example.com/rc",
            "interval": "30m",
            "connectTo": "[::1]:8443",
            "trustBundle": {"kind": "ConfigMap", "name": "roots"},
            "minTLSVersion": "1.3",
            "sender": "ringcentral",
        },
        secretDeletionPolicy="Delete",
        additionalOutputFormats=[{"type": "CombinedPEM"}, {"type": "CertbotFiles"}],
        restartTargets=[
            {"kind": "Deployment", "name": "apache"},
            {"kind": "StatefulSet", "name": "apache"},
        ],
    )

    assert spec.secret_name == "hooks-tls"
    assert spec.acme.external_account_binding == ExternalAccountBinding(
        key_id="kid-1", key_secret_ref=SecretKeyRef(name="eab", key="hmac")
    )
    assert spec.acme.preferred_chain == "ISRG Root X1"
    assert spec.acme.profile == "shortlived"
    assert spec.http01.ingress_class_name == "traefik"
    assert spec.http01.service_type == "NodePort"
    pod = spec.http01.pod_template
    assert dict(pod.labels) == {"team": "payments"}
    assert dict(pod.node_selector) == {"kubernetes.io/os": "linux"}
    assert to_plain(pod.tolerations) == [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]
    assert to_plain(pod.resources) == {
        "limits": {"cpu": "100m", "memory": "64Mi"},
        "requests": {"cpu": "1"},
    }
    assert dict(spec.http01.ingress_template.annotations) == {"x.io/y": "z"}
    assert spec.renew_before == timedelta(days=30)
    assert spec.validation.sender == "ringcentral"
    assert spec.validation.url == "https://hooks.example.com/rc"
    assert spec.validation.interval == timedelta(minutes=30)
    assert spec.validation.connect_to == "[::1]:8443"
    assert spec.validation.trust_bundle == TrustBundleRef(
        kind="ConfigMap", name="roots", key="ca.crt"
    )
    assert spec.validation.min_tls_version == "1.3"
    assert spec.secret_deletion_policy == "Delete"
    assert spec.additional_output_formats == ("CombinedPEM", "CertbotFiles")
    assert spec.restart_targets == (
        RestartTarget(kind="Deployment", name="apache"),
        RestartTarget(kind="StatefulSet", name="apache"),
    )


def test_the_parsed_spec_does_not_share_mutable_state_with_the_input() -> None:
    labels = {"team": "payments"}
    names = ["hooks.example.com"]
    spec = parse(dnsNames=names, http01={"podTemplate": {"labels": labels}})
    labels["team"] = "changed"
    names.append("other.example.com")

    assert spec.http01.pod_template.labels["team"] == "payments"
    assert spec.dns_names == ("hooks.example.com",)
    with pytest.raises(TypeError):
        spec.http01.pod_template.labels["x"] = "y"


def test_equal_specs_compare_equal() -> None:
    assert parse(http01={"podTemplate": {"labels": {"a": "b"}}}) == parse(
        http01={"podTemplate": {"labels": {"a": "b"}}}
    )


def test_null_fields_are_treated_as_absent() -> None:
    spec = parse(
        secretName=None,
        acme=None,
        http01=None,
        renewBefore=None,
        validation=None,
        secretDeletionPolicy=None,
        additionalOutputFormats=None,
        restartTargets=None,
    )
    assert spec.secret_name == "ringcentral-tls"
    assert spec.renew_before is None
    assert spec.secret_deletion_policy == "Retain"
    assert spec.additional_output_formats == ()
    assert spec.restart_targets == ()


def test_ten_restart_targets_are_accepted() -> None:
    targets = [{"kind": "Deployment", "name": f"web-{i}"} for i in range(10)]
    assert len(parse(restartTargets=targets).restart_targets) == 10


# --- refusals ----------------------------------------------------------------------------


def test_a_wildcard_is_refused_because_http01_cannot_validate_it() -> None:
    message = refusal(dnsNames=["a.example.com", "*.example.com"])
    assert message == (
        "spec.dnsNames[1]: '*.example.com' is a wildcard; HTTP-01 cannot validate "
        "wildcard names, list each host name instead"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # dnsNames
        pytest.param({"dnsNames": None}, "spec.dnsNames: is required", id="names-missing"),
        pytest.param({"dnsNames": []}, "spec.dnsNames: must list at least one", id="names-empty"),
        pytest.param({"dnsNames": "a.example.com"}, "must be a list", id="names-a-string"),
        pytest.param(
            {"dnsNames": [f"h{i}.example.com" for i in range(101)]},
            "spec.dnsNames: 101 names is more than the 100",
            id="names-101",
        ),
        pytest.param({"dnsNames": [5]}, "spec.dnsNames[0]: must be a string", id="name-number"),
        pytest.param({"dnsNames": ["a.*.example.com"]}, "is a wildcard", id="inner-wildcard"),
        pytest.param({"dnsNames": ["10.0.0.1"]}, "'10.0.0.1' is an IP address", id="ipv4"),
        pytest.param({"dnsNames": ["2001:db8::1"]}, "is an IP address", id="ipv6"),
        pytest.param(
            {"dnsNames": ["Hooks.example.com"]},
            "spec.dnsNames[0]: 'Hooks.example.com' is not a lowercase fully qualified DNS name",
            id="uppercase",
        ),
        pytest.param({"dnsNames": ["localhost"]}, "not a lowercase fully", id="single-label"),
        pytest.param({"dnsNames": ["a.example.com."]}, "not a lowercase fully", id="trailing-dot"),
        pytest.param({"dnsNames": ["-a.example.com"]}, "not a lowercase fully", id="leading-dash"),
        pytest.param({"dnsNames": ["a-.example.com"]}, "not a lowercase fully", id="trailing-dash"),
        pytest.param({"dnsNames": ["a..example.com"]}, "not a lowercase fully", id="empty-label"),
        pytest.param({"dnsNames": ["a_b.example.com"]}, "not a lowercase fully", id="underscore"),
        pytest.param({"dnsNames": ["1.2.3"]}, "not a lowercase fully", id="numeric-tld"),
        pytest.param(
            {"dnsNames": ["a" * 64 + ".example.com"]}, "not a lowercase fully", id="label-64"
        ),
        pytest.param(
            {"dnsNames": [".".join(["a" * 63] * 4) + ".com"]},
            "not a lowercase fully",
            id="name-over-253",
        ),
        pytest.param(
            {"dnsNames": ["a.example.com", "b.example.com", "a.example.com"]},
            "spec.dnsNames[2]: 'a.example.com' is listed twice",
            id="duplicate",
        ),
        # secretName
        pytest.param(
            {"secretName": "My_Secret"},
            "spec.secretName: 'My_Secret' is not a valid Secret name",
            id="secret-name-invalid",
        ),
        pytest.param({"secretName": "a" * 254}, "not a valid Secret name", id="secret-name-long"),
        pytest.param({"secretName": 7}, "spec.secretName: must be a string", id="secret-name-int"),
        # acme
        pytest.param({"acme": "x"}, "spec.acme: must be an object", id="acme-not-object"),
        pytest.param(
            {"acme": {"server": "http://ca.example/dir"}},
            "spec.acme.server: 'http://ca.example/dir' is not an https:// URL",
            id="server-http",
        ),
        pytest.param({"acme": {"server": "https:///dir"}}, "not an https:// URL", id="no-host"),
        pytest.param({"acme": {"server": "https://a:99999/"}}, "not an https://", id="bad-port"),
        pytest.param({"acme": {"server": ""}}, "spec.acme.server: must not be empty", id="empty"),
        pytest.param(
            {"acme": {"email": "mailto:ops@example.com"}},
            "spec.acme.email: 'mailto:ops@example.com' is not an email address",
            id="email-mailto",
        ),
        pytest.param({"acme": {"email": "ops"}}, "is not an email address", id="email-bare"),
        pytest.param(
            {"acme": {"email": "a@example.com,b@example.com"}}, "not an email", id="email-two"
        ),
        pytest.param(
            {"acme": {"externalAccountBinding": {"keySecretRef": {"name": "s", "key": "k"}}}},
            "spec.acme.externalAccountBinding.keyID: is required",
            id="eab-no-key-id",
        ),
        pytest.param(
            {"acme": {"externalAccountBinding": {"keyID": "k" * 513, "keySecretRef": {}}}},
            "keyID: longer than 512",
            id="eab-key-id-long",
        ),
        pytest.param(
            {"acme": {"externalAccountBinding": {"keyID": "kid"}}},
            "spec.acme.externalAccountBinding.keySecretRef: is required",
            id="eab-no-ref",
        ),
        pytest.param(
            {"acme": {"externalAccountBinding": {"keyID": "kid", "keySecretRef": {"key": "k"}}}},
            "keySecretRef.name: is required",
            id="eab-ref-no-name",
        ),
        pytest.param(
            {"acme": {"externalAccountBinding": {"keyID": "i", "keySecretRef": {"name": "s"}}}},
            "keySecretRef.key: is required",
            id="eab-ref-no-key",
        ),
        pytest.param(
            {
                "acme": {
                    "externalAccountBinding": {
                        "keyID": "i",
                        "keySecretRef": {"name": "s", "key": "a/b"},
                    }
                }
            },
            "keySecretRef.key: 'a/b' is not a valid key",
            id="eab-ref-bad-key",
        ),
        pytest.param(
            {"acme": {"preferredChain": "x" * 65}}, "preferredChain: an issuer", id="chain-long"
        ),
        pytest.param(
            {"acme": {"profile": "short lived"}},
            "spec.acme.profile: 'short lived' is not a profile name",
            id="profile-space",
        ),
        # http01
        pytest.param(
            {"http01": {"ingressClassName": "Nginx"}},
            "spec.http01.ingressClassName: 'Nginx' is not a valid IngressClass name",
            id="ingress-class-upper",
        ),
        pytest.param(
            {"http01": {"serviceType": "LoadBalancer"}},
            "spec.http01.serviceType: 'LoadBalancer' is not one of 'ClusterIP' or 'NodePort'",
            id="service-type",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"labels": {"a": "-bad"}}}},
            "spec.http01.podTemplate.labels['a']: '-bad' is not a valid label value",
            id="label-value",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"labels": {"a": "v" * 64}}}},
            "is not a valid label value",
            id="label-value-long",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"labels": {"bad key": "v"}}}},
            "spec.http01.podTemplate.labels: 'bad key' is not a valid key",
            id="label-key",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"labels": {"Example.com/a": "v"}}}},
            "is not a valid key",
            id="label-key-uppercase-prefix",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"annotations": {"a": 1}}}},
            "spec.http01.podTemplate.annotations['a']: must be a string",
            id="annotation-number",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"nodeSelector": {"a": "b c"}}}},
            "nodeSelector['a']: 'b c' is not a valid label value",
            id="node-selector-value",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"tolerations": {"key": "k"}}}},
            "tolerations: must be a list",
            id="tolerations-object",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"tolerations": [{"operator": "Maybe"}]}}},
            "tolerations[0].operator: 'Maybe' is not one of 'Exists' or 'Equal'",
            id="toleration-operator",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"tolerations": [{"effect": "Evict"}]}}},
            "tolerations[0].effect: 'Evict' is not one of",
            id="toleration-effect",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"tolerations": [{"tolerationSeconds": "60"}]}}},
            "tolerations[0].tolerationSeconds: must be an integer",
            id="toleration-seconds",
        ),
        pytest.param(
            {"http01": {"podTemplate": {"resources": {"limits": {"cpu": "lots"}}}}},
            "resources.limits['cpu']: 'lots' is not a quantity",
            id="quantity",
        ),
        pytest.param(
            {"http01": {"ingressTemplate": {"labels": {"a": "b/c"}}}},
            "spec.http01.ingressTemplate.labels['a']: 'b/c' is not a valid label value",
            id="ingress-label",
        ),
        # privateKey
        pytest.param(
            {"privateKey": {"algorithm": "DSA"}},
            "spec.privateKey.algorithm: 'DSA' is not one of 'ECDSA' or 'RSA'",
            id="algorithm",
        ),
        pytest.param(
            {"privateKey": {"size": 2048}},
            "spec.privateKey.size: ECDSA keys are 256 or 384 bits, not 2048",
            id="ecdsa-2048",
        ),
        pytest.param(
            {"privateKey": {"algorithm": "RSA", "size": 256}},
            "spec.privateKey.size: RSA keys are 2048 or 3072 or 4096 bits, not 256",
            id="rsa-256",
        ),
        pytest.param({"privateKey": {"algorithm": "ECDSA", "size": 521}}, "not 521", id="p521"),
        pytest.param({"privateKey": {"size": "256"}}, "size: must be an integer", id="size-text"),
        pytest.param({"privateKey": {"size": True}}, "size: must be an integer", id="size-bool"),
        pytest.param(
            {"privateKey": {"rotationPolicy": "Sometimes"}},
            "spec.privateKey.rotationPolicy: 'Sometimes' is not one of 'Always' or 'Never'",
            id="rotation-policy",
        ),
        # renewBefore
        pytest.param(
            {"renewBefore": "30d"},
            "spec.renewBefore: '30d' is not a duration like '90m', '1h30m' or '720h'",
            id="renew-days",
        ),
        pytest.param(
            {"renewBefore": 3600}, "spec.renewBefore: must be a duration string", id="renew-int"
        ),
        pytest.param(
            {"renewBefore": "0s"}, "spec.renewBefore: '0s' must be longer than zero", id="zero"
        ),
        pytest.param({"renewBefore": "-1h"}, "must be longer than zero", id="renew-negative"),
        # validation
        pytest.param(
            {"validation": {"url": "http://hooks.example.com/"}},
            "spec.validation.url: 'http://hooks.example.com/' is not an https:// URL",
            id="validation-url-http",
        ),
        pytest.param(
            {"validation": {"url": "https://hooks.example.com/a b"}},
            "is not an https:// URL",
            id="validation-url-space",
        ),
        pytest.param(
            {"validation": {"interval": "30s"}},
            "spec.validation.interval: '30s' is shorter than the minimum of 1m",
            id="interval-short",
        ),
        pytest.param(
            {"validation": {"interval": "1 hour"}},
            "spec.validation.interval: '1 hour' is not a duration",
            id="interval-words",
        ),
        pytest.param(
            {"validation": {"connectTo": "lb.example.com"}},
            "spec.validation.connectTo: 'lb.example.com' is not 'host:port'",
            id="connect-to-no-port",
        ),
        pytest.param(
            {"validation": {"connectTo": "lb:65536"}}, "is not 'host:port'", id="port-65536"
        ),
        pytest.param({"validation": {"connectTo": "lb:0"}}, "is not 'host:port'", id="port-0"),
        pytest.param(
            {"validation": {"connectTo": "::1:443"}}, "is not 'host:port'", id="ipv6-unbracketed"
        ),
        pytest.param(
            {"validation": {"trustBundle": {"name": "roots"}}},
            "spec.validation.trustBundle.kind: is required",
            id="bundle-no-kind",
        ),
        pytest.param(
            {"validation": {"trustBundle": {"kind": "Pod", "name": "roots"}}},
            "spec.validation.trustBundle.kind: 'Pod' is not one of 'ConfigMap' or 'Secret'",
            id="bundle-kind",
        ),
        pytest.param(
            {"validation": {"trustBundle": {"kind": "Secret"}}},
            "spec.validation.trustBundle.name: is required",
            id="bundle-no-name",
        ),
        pytest.param(
            {"validation": {"trustBundle": {"kind": "Secret", "name": "Roots"}}},
            "spec.validation.trustBundle.name: 'Roots' is not a valid Secret name",
            id="bundle-name",
        ),
        pytest.param(
            {"validation": {"trustBundle": {"kind": "ConfigMap", "name": "r", "key": "a:b"}}},
            "spec.validation.trustBundle.key: 'a:b' is not a valid key",
            id="bundle-key",
        ),
        pytest.param(
            {"validation": {"minTLSVersion": "1.1"}},
            "spec.validation.minTLSVersion: '1.1' is not one of '1.2' or '1.3'",
            id="tls-1.1",
        ),
        pytest.param(
            {"validation": {"sender": "stripe"}},
            "spec.validation.sender: 'stripe' is not one of 'generic' or 'ringcentral' or "
            "'msgraph' or 'slack'",
            id="unknown-sender",
        ),
        pytest.param(
            {"validation": {"minTLSVersion": 1.2}},
            'spec.validation.minTLSVersion: must be the string "1.2" or "1.3" (quote it)',
            id="tls-unquoted",
        ),
        # secretDeletionPolicy
        pytest.param(
            {"secretDeletionPolicy": "Orphan"},
            "spec.secretDeletionPolicy: 'Orphan' is not one of 'Retain' or 'Delete'",
            id="deletion-policy",
        ),
        # additionalOutputFormats
        pytest.param(
            {"additionalOutputFormats": "CertbotFiles"},
            "spec.additionalOutputFormats: must be a list",
            id="formats-a-string",
        ),
        pytest.param(
            {"additionalOutputFormats": ["CertbotFiles"]},
            "spec.additionalOutputFormats[0]: must be an object such as {type: CertbotFiles}",
            id="format-a-string",
        ),
        pytest.param(
            {"additionalOutputFormats": [{}]},
            "spec.additionalOutputFormats[0].type: is required",
            id="format-without-type",
        ),
        pytest.param(
            {"additionalOutputFormats": [{"type": "DER"}]},
            "spec.additionalOutputFormats[0].type: 'DER' is not one of 'CertbotFiles' or "
            "'CombinedPEM'",
            id="format-der",
        ),
        pytest.param(
            {"additionalOutputFormats": [{"type": "CombinedPEM"}, {"type": "CombinedPEM"}]},
            "spec.additionalOutputFormats[1]: CombinedPEM is listed twice",
            id="format-twice",
        ),
        # restartTargets
        pytest.param(
            {"restartTargets": {"kind": "Deployment", "name": "web"}},
            "spec.restartTargets: must be a list",
            id="targets-an-object",
        ),
        pytest.param(
            {"restartTargets": [{"kind": "Deployment", "name": f"w{i}"} for i in range(11)]},
            "spec.restartTargets: 11 targets is more than the 10 allowed",
            id="targets-11",
        ),
        pytest.param(
            {"restartTargets": ["web"]},
            "spec.restartTargets[0]: must be an object with kind and name",
            id="target-a-string",
        ),
        pytest.param(
            {"restartTargets": [{"name": "web"}]},
            "spec.restartTargets[0].kind: is required (Deployment or StatefulSet)",
            id="target-without-kind",
        ),
        pytest.param(
            {"restartTargets": [{"kind": "DaemonSet", "name": "web"}]},
            "spec.restartTargets[0].kind: 'DaemonSet' is not one of 'Deployment' or 'StatefulSet'",
            id="target-daemonset",
        ),
        pytest.param(
            {"restartTargets": [{"kind": "Deployment"}]},
            "spec.restartTargets[0].name: is required",
            id="target-without-name",
        ),
        pytest.param(
            {"restartTargets": [{"kind": "StatefulSet", "name": "Web_1"}]},
            "spec.restartTargets[0].name: 'Web_1' is not a valid StatefulSet name",
            id="target-bad-name",
        ),
        pytest.param(
            {
                "restartTargets": [
                    {"kind": "Deployment", "name": "web"},
                    {"kind": "StatefulSet", "name": "web"},
                    {"kind": "Deployment", "name": "web"},
                ]
            },
            "spec.restartTargets[2]: Deployment 'web' is listed twice",
            id="target-twice",
        ),
    ],
)
def test_a_spec_the_crd_would_refuse_is_refused_with_the_field_named(
    spec: dict[str, Any], expected: str
) -> None:
    assert expected in refusal(**spec)


def test_a_spec_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SpecError, match="spec: must be an object"):
        parse_spec(["hooks.example.com"], name="x", settings=SETTINGS)  # type: ignore[arg-type]


def test_a_name_too_long_for_the_default_secret_name_asks_for_spec_secret_name() -> None:
    with pytest.raises(SpecError, match=r"spec\.secretName: the default .* set spec\.secretName"):
        parse_spec({"dnsNames": ["a.example.com"]}, name="a" * 250, settings=SETTINGS)


def test_a_long_name_is_fine_when_the_secret_name_is_given() -> None:
    spec = parse_spec(
        {"dnsNames": ["a.example.com"], "secretName": "s"}, name="a" * 250, settings=SETTINGS
    )
    assert spec.secret_name == "s"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a.b", id="shortest"),
        pytest.param("xn--bcher-kva.example", id="punycode"),
        pytest.param("a" * 63 + ".example.com", id="label-63"),
        pytest.param(".".join(["a" * 61] * 4), id="name-247"),
        pytest.param("1.example.com", id="numeric-first-label"),
        pytest.param("a-b.example.co", id="dash-inside"),
    ],
)
def test_valid_dns_names_are_accepted(name: str) -> None:
    assert parse(dnsNames=[name]).dns_names == (name,)


def test_a_hundred_names_are_accepted() -> None:
    names = [f"h{i}.example.com" for i in range(100)]
    assert len(parse(dnsNames=names).dns_names) == 100


@pytest.mark.parametrize(
    "connect_to",
    ["lb.example.com:443", "10.0.0.1:8443", "[2001:db8::1]:443", "lb:65535", "lb:1"],
)
def test_connect_to_accepts_host_and_port(connect_to: str) -> None:
    assert parse(validation={"connectTo": connect_to}).validation.connect_to == connect_to


def test_a_spec_error_never_echoes_anything_but_the_offending_value() -> None:
    # The HMAC key lives in a Secret; only its reference is in the spec, so an error about
    # the reference cannot leak key material.
    message = refusal(
        acme={"externalAccountBinding": {"keyID": "kid", "keySecretRef": {"name": "Bad_Name"}}}
    )
    assert message.startswith("spec.acme.externalAccountBinding.keySecretRef.name: 'Bad_Name'")


# ---- check-only endpoints -------------------------------------------------------------

# What the API server stores for a check-only spec: its defaults for http01 and privateKey.
STORED_DEFAULTS: dict[str, Any] = {
    "http01": {"serviceType": "ClusterIP"},
    "privateKey": {"algorithm": "ECDSA", "rotationPolicy": "Always"},
    "secretDeletionPolicy": "Retain",
}


def test_a_check_only_endpoint_names_the_secret_it_reads() -> None:
    spec = parse(checkOnly={"secretRef": {"name": "hooks-cert-manager"}}, **STORED_DEFAULTS)
    assert spec.check_only is not None
    assert spec.check_only.secret_name == "hooks-cert-manager"
    assert spec.secret_name == "hooks-cert-manager"
    assert spec.validation.url == "https://hooks.example.com/"


def test_a_check_only_endpoint_may_name_no_secret() -> None:
    spec = parse(checkOnly={})
    assert spec.check_only is not None and spec.check_only.secret_name is None
    assert spec.secret_name == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secretName", "x-tls", "spec.secretName: a check-only endpoint obtains no certificate"),
        ("acme", {"email": "a@b.example"}, "spec.acme: a check-only endpoint obtains no"),
        ("renewBefore", "720h", "spec.renewBefore: a check-only endpoint obtains no"),
        ("restartTargets", [], "spec.restartTargets: a check-only endpoint obtains no"),
        ("http01", {"ingressClassName": "nginx"}, "spec.http01: a check-only endpoint solves no"),
        ("privateKey", {"algorithm": "RSA"}, "spec.privateKey: a check-only endpoint makes no key"),
        ("secretDeletionPolicy", "Delete", "a check-only endpoint never owns or deletes"),
    ],
)
def test_a_check_only_endpoint_refuses_what_only_issuance_uses(
    field: str, value: Any, message: str
) -> None:
    assert message in refusal(checkOnly={}, **{field: value})


def test_a_check_only_secret_ref_must_name_a_secret() -> None:
    assert "spec.checkOnly.secretRef.name: is required" in refusal(checkOnly={"secretRef": {}})


# ---- HTTP-01 through the Gateway API ---------------------------------------------------


def test_gateway_parent_refs_are_read_with_their_namespace_and_listener() -> None:
    spec = parse(
        http01={
            "gatewayHTTPRoute": {
                "parentRefs": [
                    {"name": "public", "namespace": "gateways", "sectionName": "http"},
                    {"name": "local"},
                ]
            }
        }
    )
    assert spec.http01.gateway_parent_refs == (
        ParentReference("public", "gateways", "http"),
        ParentReference("local"),
    )
    assert spec.http01.ingress_class_name is None


@pytest.mark.parametrize(
    ("http01", "message"),
    [
        (
            {"gatewayHTTPRoute": {"parentRefs": [{"name": "g"}]}, "ingressClassName": "nginx"},
            "spec.http01.ingressClassName: the solver routes through the Gateway API",
        ),
        ({"gatewayHTTPRoute": {"parentRefs": []}}, "parentRefs: name at least one Gateway"),
        ({"gatewayHTTPRoute": {"parentRefs": [{}]}}, "parentRefs[0].name: is required"),
        (
            {"gatewayHTTPRoute": {"parentRefs": [{"name": "Public_GW"}]}},
            "parentRefs[0].name: 'Public_GW' is not a valid Gateway name",
        ),
    ],
    ids=["with-an-ingress-class", "no-gateway", "no-name", "bad-name"],
)
def test_gateway_parent_refs_are_refused_with_the_field_named(
    http01: dict[str, Any], message: str
) -> None:
    assert message in refusal(http01=http01)


# ---- the solver Service's type: the reader and the builder agree ------------------------


def builds_a_service_of_type(service_type: str) -> bool:
    token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    try:
        SolverSpec(
            name="wco-solver-ringcentral-0123456789",
            namespace="payments",
            owner_api_version=types.API_VERSION,
            owner_kind=types.KIND,
            owner_name="ringcentral",
            owner_uid="uid",
            labels={"webhookcert.dev/role": "solver"},
            image="webhook-cert-solver:0.1.0",
            challenges={token: token + ".thumbprint"},
            hosts=("hooks.example.com",),
            service_type=service_type,
        )
    except SolverSpecError:
        return False
    return True


@pytest.mark.parametrize("service_type", ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"])
def test_the_spec_reader_and_the_solver_builder_accept_the_same_service_types(
    service_type: str,
) -> None:
    try:
        read = parse(http01={"serviceType": service_type}).http01.service_type == service_type
    except SpecError:
        read = False
    assert builds_a_service_of_type(service_type) is read
    assert read is (service_type in types.SERVICE_TYPES)


def test_the_default_service_type_is_one_the_builder_accepts() -> None:
    assert parse().http01.service_type == types.DEFAULT_SERVICE_TYPE == "ClusterIP"
    assert builds_a_service_of_type(types.DEFAULT_SERVICE_TYPE)
