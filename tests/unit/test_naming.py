"""Unit tests for webhook_cert_operator.naming: names, labels and annotations."""

from __future__ import annotations

import re

import pytest

from webhook_cert_operator import naming

LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?")
DNS_1035 = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
DNS_1123_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)

ORDER = "https://acme-v02.api.letsencrypt.org/acme/order/123456/7890123"


def assert_label_value(value: str) -> None:
    assert len(value) <= 63, value
    assert LABEL_VALUE.fullmatch(value), value


def test_keys_and_values_are_the_documented_ones() -> None:
    assert naming.LABEL_ENDPOINT == "webhookcert.dev/endpoint"
    assert naming.LABEL_ROLE == "webhookcert.dev/role"
    assert naming.LABEL_ORDER == "webhookcert.dev/order"
    assert naming.LABEL_MANAGED_BY == "app.kubernetes.io/managed-by"
    assert naming.MANAGED_BY == "webhook-cert-operator"
    assert naming.ROLE_SOLVER == "solver"
    assert naming.ANNOTATION_SERIAL == "webhookcert.dev/serial-number"
    assert naming.ANNOTATION_NOT_AFTER == "webhookcert.dev/not-after"
    assert naming.ANNOTATION_ISSUER == "webhookcert.dev/issuer"
    assert naming.ANNOTATION_ENDPOINT == "webhookcert.dev/endpoint"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("ringcentral", id="simple"),
        pytest.param("hooks.example.com", id="with-dots"),
        pytest.param("A_b-c.D", id="mixed"),
        pytest.param("x" * 63, id="exactly-63"),
    ],
)
def test_label_value_keeps_a_valid_value_as_it_is(text: str) -> None:
    assert naming.label_value(text) == text


@pytest.mark.parametrize(
    ("text", "readable_prefix"),
    [
        pytest.param("x" * 64, "x" * 52, id="64-chars"),
        pytest.param("a" * 253, "a" * 52, id="longest-object-name"),
        pytest.param("payments/ringcentral", "payments-ringcentral", id="slash"),
        pytest.param("-leading-dash", "leading-dash", id="leading-dash"),
        pytest.param("trailing.", "trailing", id="trailing-dot"),
        pytest.param("ops@example.com", "ops-example.com", id="at-sign"),
        pytest.param("///", "", id="nothing-readable"),
    ],
)
def test_label_value_makes_other_text_valid_with_a_readable_prefix_and_a_hash(
    text: str, readable_prefix: str
) -> None:
    value = naming.label_value(text)
    assert_label_value(value)
    assert value.startswith(readable_prefix)
    assert re.fullmatch(r"[0-9a-f]{10}", value[-10:])


def test_label_value_is_stable() -> None:
    text = "a" * 100
    assert naming.label_value(text) == naming.label_value(text)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("a" * 64, "a" * 65, id="long-texts-with-the-same-prefix"),
        pytest.param("payments/ringcentral", "payments-ringcentral", id="sanitized-to-the-same"),
        pytest.param("a/b", "a@b", id="different-invalid-characters"),
    ],
)
def test_label_value_keeps_different_texts_apart(first: str, second: str) -> None:
    assert naming.label_value(first) != naming.label_value(second)


def test_order_hash_is_a_stable_label_value_per_url() -> None:
    value = naming.order_hash(ORDER)
    assert_label_value(value)
    assert value == naming.order_hash(ORDER)
    assert value != naming.order_hash(ORDER + "1")


def test_endpoint_ref_is_namespace_slash_name() -> None:
    assert naming.endpoint_ref("payments", "ringcentral") == "payments/ringcentral"


def test_solver_labels_mark_the_objects_of_one_order() -> None:
    labels = naming.solver_labels("ringcentral", ORDER)
    assert labels == {
        "app.kubernetes.io/managed-by": "webhook-cert-operator",
        "webhookcert.dev/role": "solver",
        "webhookcert.dev/endpoint": "ringcentral",
        "webhookcert.dev/order": naming.order_hash(ORDER),
    }


def test_solver_labels_are_valid_for_the_longest_endpoint_name() -> None:
    for value in naming.solver_labels("a" * 253, ORDER).values():
        assert_label_value(value)


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("ringcentral", id="short"),
        pytest.param("hooks.example.com", id="dotted"),
        pytest.param("a" * 253, id="longest-object-name"),
        pytest.param("0-starts-with-a-digit", id="starts-with-digit"),
        pytest.param("x" * 40 + "-tail", id="ends-with-dash-when-cut"),
    ],
)
def test_solver_name_is_a_dns_1035_label(endpoint: str) -> None:
    name = naming.solver_name(endpoint, ORDER)
    assert len(name) <= 63, name
    assert DNS_1035.fullmatch(name), name
    assert "--" not in name


def test_solver_name_reads_as_the_endpoint() -> None:
    name = naming.solver_name("ringcentral", ORDER)
    assert re.fullmatch(r"wco-solver-ringcentral-[0-9a-f]{10}", name)


def test_solver_name_is_stable() -> None:
    assert naming.solver_name("ringcentral", ORDER) == naming.solver_name("ringcentral", ORDER)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(("ringcentral", ORDER), ("ringcentral", ORDER + "1"), id="other-order"),
        pytest.param(("ringcentral", ORDER), ("stripe", ORDER), id="other-endpoint"),
        pytest.param(("a.b", ORDER), ("a-b", ORDER), id="names-with-the-same-prefix"),
        pytest.param(("a" * 100, ORDER), ("a" * 101, ORDER), id="long-names"),
    ],
)
def test_solver_name_differs_per_endpoint_and_order(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert naming.solver_name(*first) != naming.solver_name(*second)


@pytest.mark.parametrize(
    ("server", "email"),
    [
        pytest.param("https://acme-v02.api.letsencrypt.org/directory", "ops@example.com", id="le"),
        pytest.param("https://localhost:14000/dir", None, id="pebble-without-email"),
    ],
)
def test_account_secret_name_is_a_dns_1123_name(server: str, email: str | None) -> None:
    name = naming.account_secret_name(server, email)
    assert len(name) <= 253
    assert DNS_1123_SUBDOMAIN.fullmatch(name), name
    assert name.startswith("wco-acme-account-")
    assert name == naming.account_secret_name(server, email)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            ("https://a/dir", "ops@example.com"),
            ("https://b/dir", "ops@example.com"),
            id="other-server",
        ),
        pytest.param(
            ("https://a/dir", "ops@example.com"),
            ("https://a/dir", "dev@example.com"),
            id="other-email",
        ),
        pytest.param(("https://a/dir", "ops@example.com"), ("https://a/dir", None), id="no-email"),
    ],
)
def test_account_secret_name_differs_per_server_and_email(
    first: tuple[str, str | None], second: tuple[str, str | None]
) -> None:
    assert naming.account_secret_name(*first) != naming.account_secret_name(*second)


def test_another_eab_key_id_is_another_account_and_none_keeps_the_plain_name() -> None:
    plain = naming.account_secret_name("https://a/dir", "ops@example.com")
    first = naming.account_secret_name("https://a/dir", "ops@example.com", "kid-1")
    second = naming.account_secret_name("https://a/dir", "ops@example.com", "kid-2")
    assert len({plain, first, second}) == 3
    assert naming.account_secret_name("https://a/dir", "ops@example.com", None) == plain
