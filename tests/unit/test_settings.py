"""Unit tests for settings.py: every setting's default, every variable read, every refusal."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from webhook_cert_operator.settings import (
    ENVIRONMENT_VARIABLES,
    LETSENCRYPT_PRODUCTION,
    ConfigError,
    Settings,
    settings_from_env,
)
from webhook_cert_operator.solver import resources

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_an_empty_environment_gives_the_defaults() -> None:
    assert settings_from_env({}) == Settings()


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert settings.namespace == "webhook-cert-system"
    assert settings.acme_server == LETSENCRYPT_PRODUCTION
    assert settings.acme_server == "https://acme-v02.api.letsencrypt.org/directory"
    assert settings.acme_email is None
    assert settings.acme_agree_tos is False
    assert settings.acme_ca_bundle is None
    assert settings.solver_image == "webhook-cert-solver:0.1.0"
    assert settings.solver_port == 8089
    assert settings.solver_port == resources.DEFAULT_PORT  # the solver's own default
    assert settings.nameservers == ()
    assert settings.self_check_successes == 3
    assert settings.self_check_interval == timedelta(milliseconds=500)
    assert settings.solver_start_timeout == timedelta(minutes=10)
    assert settings.self_check_timeout == timedelta(minutes=2)
    assert settings.metrics_port == 8080
    assert settings.watch_namespaces == ()
    assert settings.check_concurrency == 50
    assert settings.max_concurrent_issuances == 100
    assert settings.http01_port == 80
    assert settings.failure_backoff == (
        timedelta(minutes=1),
        timedelta(minutes=10),
        timedelta(minutes=100),
        timedelta(days=1),
    )
    assert settings.peering_lifetime == timedelta(seconds=20)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().namespace = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("NAMESPACE", "certs", "namespace", "certs"),
        ("ACME_SERVER", "https://pebble:14000/dir", "acme_server", "https://pebble:14000/dir"),
        ("ACME_EMAIL", "ops@example.com", "acme_email", "ops@example.com"),
        ("ACME_AGREE_TOS", "true", "acme_agree_tos", True),
        ("ACME_AGREE_TOS", "YES", "acme_agree_tos", True),
        ("ACME_AGREE_TOS", "1", "acme_agree_tos", True),
        ("ACME_AGREE_TOS", "false", "acme_agree_tos", False),
        ("ACME_AGREE_TOS", "off", "acme_agree_tos", False),
        ("ACME_CA_BUNDLE", "/etc/pebble/ca.pem", "acme_ca_bundle", "/etc/pebble/ca.pem"),
        ("SOLVER_IMAGE", "registry.example/wco:1.2", "solver_image", "registry.example/wco:1.2"),
        ("SOLVER_PORT", "9000", "solver_port", 9000),
        ("NAMESERVERS", "10.244.0.2:53", "nameservers", ("10.244.0.2:53",)),
        (
            "NAMESERVERS",
            " 10.0.0.10 , [2001:db8::53]:5353, 2001:db8::54, 10.0.0.11:53 ",
            "nameservers",
            ("10.0.0.10", "[2001:db8::53]:5353", "2001:db8::54", "10.0.0.11:53"),
        ),
        ("SELF_CHECK_SUCCESSES", "1", "self_check_successes", 1),
        ("SELF_CHECK_INTERVAL", "2s", "self_check_interval", timedelta(seconds=2)),
        ("SELF_CHECK_TIMEOUT", "5m", "self_check_timeout", timedelta(minutes=5)),
        ("METRICS_PORT", "9090", "metrics_port", 9090),
        ("NAMESPACES", "payments", "watch_namespaces", ("payments",)),
        ("NAMESPACES", "payments, billing,", "watch_namespaces", ("payments", "billing")),
        ("CHECK_CONCURRENCY", "4", "check_concurrency", 4),
        ("MAX_CONCURRENT_ISSUANCES", "120", "max_concurrent_issuances", 120),
        ("SOLVER_START_TIMEOUT", "0s", "solver_start_timeout", timedelta(0)),
        ("HTTP01_PORT", "8080", "http01_port", 8080),
        (
            "FAILURE_BACKOFF",
            "2s, 4s,1m30s",
            "failure_backoff",
            (timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=90)),
        ),
        ("PEERING_LIFETIME", "45s", "peering_lifetime", timedelta(seconds=45)),
    ],
)
def test_each_variable_sets_its_field(
    variable: str, value: str, field: str, expected: object
) -> None:
    settings = settings_from_env({f"WEBHOOK_CERT_{variable}": value})
    assert getattr(settings, field) == expected
    others = {f.name for f in dataclasses.fields(Settings)} - {field}
    for other in others:
        assert getattr(settings, other) == getattr(Settings(), other), other


def test_an_empty_variable_keeps_the_default() -> None:
    assert settings_from_env(
        {"WEBHOOK_CERT_ACME_SERVER": "", "WEBHOOK_CERT_METRICS_PORT": " "}
    ) == (Settings())


def test_other_variables_are_ignored_including_service_links() -> None:
    # WEBHOOK_CERT_PORT is what a Service named webhook-cert injects; it is no setting.
    env = {"ACME_SERVER": "http://nope", "WEBHOOK_CERT_PORT": "tcp://10.0.0.7:80"}
    assert settings_from_env(env) == Settings()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NAMESPACE", "Certs", "is not a namespace name"),
        ("NAMESPACE", "a" * 64, "is not a namespace name"),
        ("ACME_SERVER", "http://acme.example/dir", "expected an https:// URL"),
        ("ACME_SERVER", "acme.example", "expected an https:// URL"),
        ("ACME_EMAIL", "mailto:ops@example.com", "expected one email address"),
        ("ACME_EMAIL", "ops", "expected one email address"),
        ("ACME_AGREE_TOS", "sure", "expected true or false"),
        ("ACME_CA_BUNDLE", "ca.pem", "expected an absolute path"),
        ("SOLVER_PORT", "0", "expected a whole number from 1 to 65535"),
        ("SOLVER_PORT", "65536", "from 1 to 65535"),
        ("SOLVER_PORT", "http", "from 1 to 65535"),
        ("METRICS_PORT", "-1", "from 1 to 65535"),
        ("HTTP01_PORT", "80.0", "from 1 to 65535"),
        ("NAMESERVERS", "10.0.0.1:99999", "'10.0.0.1:99999' is not 'address' or 'address:port'"),
        ("NAMESERVERS", "10.0.0.1:", "is not 'address' or 'address:port'"),
        ("NAMESERVERS", "[10.0.0.1]:53", "is not 'address' or 'address:port'"),
        ("NAMESERVERS", "[2001:db8::1]53", "is not 'address' or 'address:port'"),
        ("NAMESERVERS", "dns server", "is not 'address' or 'address:port'"),
        ("NAMESERVERS", "dns.example.com:53", "is not 'address' or 'address:port'"),
        ("NAMESERVERS", "udp://10.0.0.1", "is not 'address' or 'address:port'"),
        ("SELF_CHECK_SUCCESSES", "0", "expected a whole number of at least 1"),
        ("SELF_CHECK_INTERVAL", "2", "is not a duration"),
        ("SELF_CHECK_INTERVAL", "10ms", "expected at least 0.1s"),
        ("SELF_CHECK_TIMEOUT", "2 minutes", "is not a duration"),
        ("SELF_CHECK_TIMEOUT", "0s", "expected at least 1s"),
        ("NAMESPACES", "payments,Billing", "'Billing' is not a namespace name"),
        ("CHECK_CONCURRENCY", "0", "at least 1"),
        ("MAX_CONCURRENT_ISSUANCES", "0", "at least 1"),
        ("CHECK_CONCURRENCY", "many", "at least 1"),
        ("FAILURE_BACKOFF", ",", "expected a comma-separated list of durations"),
        ("FAILURE_BACKOFF", "1m,soon", "is not a duration"),
        ("FAILURE_BACKOFF", "1m,500ms", "expected at least 1s"),
        ("PEERING_LIFETIME", "5s", "expected at least 15s"),
    ],
)
def test_a_malformed_value_is_refused_naming_variable_and_value(
    variable: str, value: str, expected: str
) -> None:
    name = f"WEBHOOK_CERT_{variable}"
    with pytest.raises(ConfigError) as caught:
        settings_from_env({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}")
    assert value.strip() in message
    assert expected in message


def test_a_kubernetes_service_link_in_a_port_variable_is_explained() -> None:
    # A Service named webhook-cert-metrics makes Kubernetes set
    # WEBHOOK_CERT_METRICS_PORT=tcp://<ip>:<port> in every Pod of the namespace.
    with pytest.raises(ConfigError, match="enableServiceLinks: false"):
        settings_from_env({"WEBHOOK_CERT_METRICS_PORT": "tcp://10.0.0.7:8080"})


def test_there_is_one_variable_per_setting() -> None:
    assert len(ENVIRONMENT_VARIABLES) == len(dataclasses.fields(Settings))
    assert len(set(ENVIRONMENT_VARIABLES)) == len(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
def test_every_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in DOCS.read_text(encoding="utf-8")
    assert variable in (settings_from_env.__doc__ or "")
