"""Unit tests for the WebhookEndpoint CRD manifest: shape, documentation, agreement with api.py.

The API server is the judge of the CRD (tests/integration/test_crd_validation.py); these
tests catch, without a cluster, what is easy to break by hand: a field without a
description, a non-structural node, a default that differs from api.py's, a CEL pattern
that drifted from the Python one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import parse_duration
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import OrderRef, RenewalStatus
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.checking.condition import (
    REASON_TRUST_BUNDLE_UNAVAILABLE,
    REASON_VALID,
    reason_for,
)
from webhook_cert_operator.checking.findings import SEVERITY, Code, Severity
from webhook_cert_operator.settings import Settings

CRD_PATH = Path(__file__).resolve().parents[2] / "manifests" / "crd" / "webhookendpoints.yaml"
CRD: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
VERSION: dict[str, Any] = CRD["spec"]["versions"][0]
ROOT: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]
SPEC: dict[str, Any] = ROOT["properties"]["spec"]
STATUS: dict[str, Any] = ROOT["properties"]["status"]


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under `schema`, with a readable path such as spec.dnsNames[]."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


ALL_NODES = list(nodes(ROOT))


def node(path: str) -> dict[str, Any]:
    return dict(ALL_NODES)[path]


def rules(path: str) -> list[dict[str, Any]]:
    return list(node(path).get("x-kubernetes-validations", []))


def cel_patterns(rule: str) -> list[str]:
    """The regexes of `matches('...')` calls in a CEL rule, CEL escapes undone."""
    return [p.replace("\\\\", "\\") for p in re.findall(r"matches\('((?:[^'\\]|\\.)*)'\)", rule)]


# --- the resource's identity -------------------------------------------------------------


def test_the_manifest_is_a_v1_crd_for_the_documented_names() -> None:
    assert CRD["apiVersion"] == "apiextensions.k8s.io/v1"
    assert CRD["kind"] == "CustomResourceDefinition"
    assert CRD["metadata"]["name"] == f"{api.PLURAL}.{api.GROUP}"
    assert CRD["spec"]["group"] == api.GROUP == "webhookcert.dev"
    assert CRD["spec"]["scope"] == "Namespaced"
    names = CRD["spec"]["names"]
    assert names["kind"] == api.KIND == "WebhookEndpoint"
    assert names["plural"] == api.PLURAL == "webhookendpoints"
    assert names["singular"] == "webhookendpoint"
    assert names["shortNames"] == ["whe"]


def test_there_is_one_served_stored_version_with_a_status_subresource() -> None:
    assert len(CRD["spec"]["versions"]) == 1
    assert VERSION["name"] == api.VERSION == "v1alpha1"
    assert VERSION["served"] is True
    assert VERSION["storage"] is True
    assert VERSION["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("name", "json_path", "column_type"),
    [
        ("Ready", '.status.conditions[?(@.type=="Ready")].status', "string"),
        ("ChainValid", '.status.conditions[?(@.type=="ChainValid")].status', "string"),
        # kubectl shows a date column as an age, and a future date as "<invalid>".
        ("Expires", ".status.notAfter", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ],
)
def test_the_printer_columns_show_readiness_chain_and_expiry(
    name: str, json_path: str, column_type: str
) -> None:
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert columns[name]["jsonPath"] == json_path
    assert columns[name]["type"] == column_type
    assert columns[name].get("priority", 0) == 0


# --- structural and documented -----------------------------------------------------------


@pytest.mark.parametrize(("path", "schema"), ALL_NODES, ids=[p or "<root>" for p, _ in ALL_NODES])
def test_every_node_is_structural(path: str, schema: dict[str, Any]) -> None:
    # Structural schemas (apiextensions v1): each node has a type unless it is
    # int-or-string or keeps unknown fields; anyOf/allOf carry value validations only.
    if not schema.get("x-kubernetes-int-or-string"):
        assert schema.get("type") or schema.get("x-kubernetes-preserve-unknown-fields"), path
    for combinator in ("anyOf", "allOf", "oneOf"):
        for branch in schema.get(combinator, []):
            assert set(branch) <= {"type", "pattern", "format", "enum", "maxLength"}, path
            if "type" in branch:
                assert schema.get("x-kubernetes-int-or-string"), path
    assert not ("properties" in schema and "additionalProperties" in schema), path
    if schema.get("type") == "array":
        assert isinstance(schema.get("items"), dict), path


def test_unknown_fields_are_kept_only_for_kopfs_own_status() -> None:
    keeping = [p for p, s in ALL_NODES if s.get("x-kubernetes-preserve-unknown-fields")]
    assert keeping == ["status.kopf"]


DESCRIBED = [(p, s) for p, s in ALL_NODES if p not in ("", "metadata")]


@pytest.mark.parametrize(("path", "schema"), DESCRIBED, ids=[p for p, _ in DESCRIBED])
def test_every_field_has_a_description(path: str, schema: dict[str, Any]) -> None:
    # `kubectl explain` is the user's reference. metadata is the standard ObjectMeta; the
    # API server forbids describing it in a CRD.
    description = schema.get("description", "")
    assert isinstance(description, str)
    assert len(description.strip()) >= 8, path


def test_the_root_metadata_is_left_to_the_api_server() -> None:
    assert ROOT["properties"]["metadata"] == {"type": "object"}


def test_every_validation_rule_has_a_message() -> None:
    for path, schema in ALL_NODES:
        for rule in schema.get("x-kubernetes-validations", []):
            assert rule.get("message"), (path, rule["rule"])


def test_strings_checked_by_cel_have_a_length_bound_so_the_cost_estimate_passes() -> None:
    for path, schema in ALL_NODES:
        if schema.get("type") == "string" and schema.get("x-kubernetes-validations"):
            assert schema.get("maxLength"), path
    assert node("spec.dnsNames")["maxItems"] == api.MAX_DNS_NAMES


# --- the rules the brief asks for, and agreement with api.py -----------------------------


def test_dns_names_are_a_required_set_of_1_to_100() -> None:
    names = node("spec.dnsNames")
    assert "dnsNames" in SPEC["required"]
    assert names["minItems"] == 1
    assert names["maxItems"] == 100
    assert names["x-kubernetes-list-type"] == "set"
    assert node("spec.dnsNames[]")["maxLength"] == 253


def test_dns_name_rules_explain_wildcards_and_ip_addresses() -> None:
    messages = [r["message"] for r in rules("spec.dnsNames[]")]
    assert any("HTTP-01 cannot validate wildcard" in m for m in messages)
    assert any("IP address" in m for m in messages)
    assert any("isIP(self)" in r["rule"] for r in rules("spec.dnsNames[]"))


def dns_name_rule_accepts(name: str) -> bool:
    """Evaluate the CRD's three dnsNames rules in Python (RE2 and re agree on these)."""
    is_ip = True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        is_ip = False
    fqdn_rule = next(r["rule"] for r in rules("spec.dnsNames[]") if "matches" in r["rule"])
    fqdn, numeric_tld = cel_patterns(fqdn_rule)
    fqdn_ok = bool(re.search(fqdn, name)) and not re.search(numeric_tld, name)
    return "*" not in name and not is_ip and fqdn_ok and len(name) <= 253


def api_accepts(**spec: Any) -> bool:
    spec.setdefault("dnsNames", ["hooks.example.com"])
    try:
        parse_spec(spec, name="x", settings=Settings())
    except api.SpecError:
        return False
    return True


NAME_SAMPLES = [
    "hooks.example.com",
    "a.b",
    "1.example.com",
    "xn--bcher-kva.example",
    "a" * 63 + ".com",
    "a" * 64 + ".com",
    "Hooks.example.com",
    "*.example.com",
    "a.*.com",
    "10.0.0.1",
    "2001:db8::1",
    "1.2.3",
    "localhost",
    "a.example.com.",
    "-a.example.com",
    "a-.example.com",
    "a..b",
    "a_b.example.com",
    "a.example.123",
    "a.example.c0m",
]


@pytest.mark.parametrize("name", NAME_SAMPLES)
def test_the_crd_and_api_py_agree_on_dns_names(name: str) -> None:
    assert dns_name_rule_accepts(name) == api_accepts(dnsNames=[name])


DURATION_SAMPLES = [
    "1h",
    "90m",
    "1h30m",
    "1.5h",
    "500ms",
    "0",
    "0s",
    "-1h",
    "+2h",
    "1d",
    "1",
    "1us",
]


@pytest.mark.parametrize("text", DURATION_SAMPLES)
def test_the_crd_and_api_py_agree_on_the_duration_syntax(text: str) -> None:
    (pattern,) = cel_patterns(rules("spec.renewBefore")[0]["rule"])
    assert cel_patterns(rules("spec.validation.interval")[0]["rule"]) == [pattern]
    try:
        parse_duration(text)
        parses = True
    except ValueError:
        parses = False
    assert bool(re.search(pattern, text)) == parses


def test_duration_bounds_match_api_py() -> None:
    assert "duration(self) > duration('0s')" in rules("spec.renewBefore")[1]["rule"]
    interval_bound = rules("spec.validation.interval")[1]["rule"]
    assert "duration(self) >= duration('1m')" in interval_bound
    assert timedelta(minutes=1) == api.MIN_VALIDATION_INTERVAL


@pytest.mark.parametrize(
    "value",
    ["hooks-tls", "a.b-c", "a", "My_Secret", "-a", "a-", "a..b", "a" * 253, "a" * 254, "é"],
)
def test_the_crd_and_api_py_agree_on_secret_names(value: str) -> None:
    schema = node("spec.secretName")
    (pattern,) = cel_patterns(schema["x-kubernetes-validations"][0]["rule"])
    crd_accepts = bool(re.search(pattern, value)) and len(value) <= schema["maxLength"]
    assert crd_accepts == api_accepts(secretName=value)


@pytest.mark.parametrize(
    "value",
    [
        "lb:443",
        "10.0.0.1:8443",
        "[2001:db8::1]:443",
        "lb:0",
        "lb:65535",
        "lb:65536",
        "lb",
        "::1:443",
    ],
)
def test_the_crd_and_api_py_agree_on_connect_to(value: str) -> None:
    (pattern,) = cel_patterns(rules("spec.validation.connectTo")[0]["rule"])
    assert bool(re.search(pattern, value)) == api_accepts(validation={"connectTo": value})


@pytest.mark.parametrize(
    ("path", "constant"),
    [
        ("spec.http01.serviceType", api.SERVICE_TYPES),
        ("spec.privateKey.algorithm", tuple(api.KEY_SIZES)),
        ("spec.privateKey.rotationPolicy", api.ROTATION_POLICIES),
        ("spec.validation.minTLSVersion", api.TLS_VERSIONS),
        ("spec.validation.trustBundle.kind", api.TRUST_BUNDLE_KINDS),
        ("spec.http01.podTemplate.tolerations[].operator", api.TOLERATION_OPERATORS),
        ("spec.http01.podTemplate.tolerations[].effect", api.TOLERATION_EFFECTS),
        ("status.conditions[].status", api.CONDITION_STATUSES),
        ("spec.secretDeletionPolicy", api.SECRET_DELETION_POLICIES),
        ("spec.additionalOutputFormats[].type", api.OUTPUT_FORMATS),
        ("spec.restartTargets[].kind", api.RESTART_TARGET_KINDS),
    ],
)
def test_enums_match_api_py(path: str, constant: tuple[str, ...]) -> None:
    assert tuple(node(path)["enum"]) == constant


@pytest.mark.parametrize(
    ("path", "default"),
    [
        ("spec.http01.serviceType", api.DEFAULT_SERVICE_TYPE),
        ("spec.privateKey.algorithm", api.DEFAULT_KEY_ALGORITHM),
        ("spec.privateKey.rotationPolicy", api.DEFAULT_ROTATION_POLICY),
        ("spec.validation.minTLSVersion", api.DEFAULT_MIN_TLS_VERSION),
        ("spec.validation.trustBundle.key", api.DEFAULT_TRUST_BUNDLE_KEY),
        ("spec.secretDeletionPolicy", api.DEFAULT_SECRET_DELETION_POLICY),
    ],
)
def test_constant_defaults_match_api_py(path: str, default: str) -> None:
    assert node(path)["default"] == default


def test_the_default_interval_matches_api_py() -> None:
    interval = node("spec.validation.interval")["default"]
    assert parse_duration(interval) == api.DEFAULT_VALIDATION_INTERVAL


@pytest.mark.parametrize("path", ["spec.http01", "spec.privateKey", "spec.validation"])
def test_objects_with_defaults_inside_default_to_empty_so_the_defaults_apply(path: str) -> None:
    assert node(path)["default"] == {}


@pytest.mark.parametrize(
    "path", ["spec.secretName", "spec.acme.server", "spec.acme.email", "spec.privateKey.size"]
)
def test_defaults_that_depend_on_other_fields_are_left_to_the_operator(path: str) -> None:
    assert "default" not in node(path)
    assert "Default:" in node(path)["description"]


def test_the_key_size_rule_lists_exactly_api_pys_sizes() -> None:
    (rule,) = (r["rule"] for r in rules("spec.privateKey"))
    for algorithm, sizes in api.KEY_SIZES.items():
        assert f"[{', '.join(str(s) for s in sizes)}]" in rule, algorithm


def test_the_default_deletion_policy_keeps_the_secret() -> None:
    # Deleting a WebhookEndpoint must not take a serving certificate away by default.
    assert node("spec.secretDeletionPolicy")["default"] == "Retain"
    assert "Default: Retain." in node("spec.secretDeletionPolicy")["description"]


@pytest.mark.parametrize(
    ("path", "keys", "max_items"),
    [
        pytest.param(
            "spec.additionalOutputFormats", ["type"], len(api.OUTPUT_FORMATS), id="formats"
        ),
        pytest.param(
            "spec.restartTargets", ["kind", "name"], api.MAX_RESTART_TARGETS, id="restart-targets"
        ),
    ],
)
def test_lists_of_objects_are_maps_so_the_api_server_refuses_duplicates(
    path: str, keys: list[str], max_items: int
) -> None:
    schema = node(path)
    assert schema["x-kubernetes-list-type"] == "map"
    assert schema["x-kubernetes-list-map-keys"] == keys
    # Map keys must be required (or defaulted) for the API server to accept the CRD.
    assert set(keys) <= set(node(f"{path}[]")["required"])
    assert schema["maxItems"] == max_items


@pytest.mark.parametrize(
    "value",
    ["web", "web-1", "a.b", "Web", "-web", "web-", "web_1", "a" * 253, "a" * 254],
)
def test_the_crd_and_api_py_agree_on_restart_target_names(value: str) -> None:
    schema = node("spec.restartTargets[].name")
    (pattern,) = cel_patterns(schema["x-kubernetes-validations"][0]["rule"])
    crd_accepts = bool(re.search(pattern, value)) and len(value) <= schema["maxLength"]
    assert crd_accepts == api_accepts(restartTargets=[{"kind": "Deployment", "name": value}])


@pytest.mark.parametrize(
    "key",
    ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem", "tls-combined.pem"],
)
def test_the_output_formats_description_names_every_key_written(key: str) -> None:
    assert key in node("spec.additionalOutputFormats")["description"]
    assert key in {
        tls_secret.CERTBOT_CERT,
        tls_secret.CERTBOT_CHAIN,
        tls_secret.CERTBOT_FULLCHAIN,
        tls_secret.CERTBOT_PRIVKEY,
        tls_secret.COMBINED_PEM,
    }


def test_the_restart_targets_description_names_the_annotation_the_operator_sets() -> None:
    assert tls_secret.RESTART_ANNOTATION in node("spec.restartTargets")["description"]


def test_a_name_too_long_for_the_default_secret_is_refused_at_the_root() -> None:
    (rule,) = ROOT["x-kubernetes-validations"]
    assert "size(self.metadata.name) <= 249" in rule["rule"]
    assert 249 + len(api.SECRET_NAME_SUFFIX) == 253


# --- status ------------------------------------------------------------------------------


def test_conditions_are_a_map_keyed_by_type() -> None:
    conditions = node("status.conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(node("status.conditions[]")["required"]) == {"type", "status"}
    assert set(node("status.conditions[]")["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


def test_status_has_every_field_the_operator_writes() -> None:
    assert set(STATUS["properties"]) == {
        "observedGeneration",
        "conditions",
        "notBefore",
        "notAfter",
        "renewalTime",
        "secretResourceVersion",
        "serialNumber",
        "issuer",
        "dnsNames",
        "order",
        "failedAttempts",
        "lastFailureTime",
        "lastFailureReason",
        "nextAttemptTime",
        "retryAfter",
        "renewal",
        "validation",
        "kopf",
    }
    assert set(node("status.validation")["properties"]) == {
        "lastChecked",
        "tlsVersion",
        "cipherSuite",
        "addresses",
        "servedChain",
        "findings",
    }
    assert set(node("status.validation.servedChain[]")["properties"]) == {
        "subject",
        "issuer",
        "notAfter",
        "sha256",
    }
    assert set(node("status.validation.findings[]")["properties"]) == {
        "code",
        "severity",
        "message",
    }


def test_status_renewal_holds_what_renewal_status_writes() -> None:
    written = RenewalStatus().to_status()
    assert set(written) == set(node("status.renewal")["properties"])


def test_status_order_holds_what_order_ref_writes_and_the_replaced_certificate() -> None:
    written = OrderRef(url="u", state="pending", attempts=1, dns_names=("a.b",)).to_status()
    # `replaces` is written once the order is valid (lifecycle._succeed).
    assert {*written, "replaces"} == set(node("status.order")["properties"])


# --- the finding codes the descriptions name ---------------------------------------------

CODE_TOKEN = re.compile(r"\b[a-z]+(?:-[a-z]+)+\b")


def listed(description: str, heading: str) -> set[str]:
    """The comma-separated words after `heading` up to the next full stop."""
    return {word.strip() for word in description.split(heading, 1)[1].split(".")[0].split(",")}


def test_the_finding_code_description_names_exactly_the_codes_chain_py_defines() -> None:
    description = " ".join(node("status.validation.findings[].code")["description"].split())
    severity_of = {str(code): str(severity) for code, severity in SEVERITY.items()}
    assert listed(description, "Errors:") == {c for c, s in severity_of.items() if s == "error"}
    assert listed(description, "Warnings:") == {c for c, s in severity_of.items() if s == "warning"}
    # No other code-like word: an example that does not exist is how this went wrong once.
    assert set(CODE_TOKEN.findall(description)) <= set(severity_of)


def test_the_severity_description_names_exactly_the_severities() -> None:
    description = node("status.validation.findings[].severity")["description"]
    named = {
        word
        for word in re.findall(r"\b[a-z]+\b", description)
        if word in ("error", "warning", "info", "notice", "critical")
    }
    assert named == {str(severity) for severity in Severity}


def test_the_condition_reason_example_is_what_the_checker_writes() -> None:
    description = node("status.conditions[].reason")["description"]
    for reason in re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", description):
        if reason in ("CamelCase",):
            continue
        known = {REASON_VALID, REASON_TRUST_BUNDLE_UNAVAILABLE} | {
            reason_for(code) for code in Code
        }
        assert reason in known, reason


@pytest.mark.parametrize("field", [*api.ISSUANCE_ONLY_FIELDS, "http01", "privateKey"])
def test_check_only_refuses_each_issuance_field_at_that_field_with_a_message_naming_it(
    field: str,
) -> None:
    rules = [
        r for r in node("spec")["x-kubernetes-validations"] if r.get("fieldPath") == f".{field}"
    ]
    assert len(rules) == 1
    assert rules[0]["rule"].startswith("!has(self.checkOnly) ||")
    assert f"remove spec.{field} or spec.checkOnly" in " ".join(rules[0]["message"].split())


def test_a_check_only_endpoint_needs_no_default_secret_name() -> None:
    (rule,) = ROOT["x-kubernetes-validations"]
    assert "has(self.spec.checkOnly)" in rule["rule"]
