"""Pure (no I/O, no clock): reading a WebhookEndpoint's spec. `parse_spec` fills in every
default and refuses, with a SpecError naming the field, every value the CRD would refuse.

`manifests/crd/webhookendpoints.yaml` is the schema users see (`kubectl explain whe.spec`);
this module is the operator's reading of the same object. It checks again every rule the
CRD enforces, because an object may have been stored under an older CRD, or by an API
server too old to run the CRD's CEL rules, and the operator must refuse it with a message
the user can act on rather than fail half-way through an ACME order.

The values it returns are in `api/types.py`, spec.http01 is read by `api/parse_http01.py`,
the field readers are in `api/fields.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final, Protocol

from webhook_cert_operator.api.fields import (
    check_dns_name,
    data_key,
    duration,
    enum_field,
    https_url,
    is_subdomain,
    list_field,
    object_field,
    required_string,
    string_field,
    subdomain,
)
from webhook_cert_operator.api.formats import is_email_address
from webhook_cert_operator.api.parse_http01 import parse_http01
from webhook_cert_operator.api.types import (
    DEFAULT_KEY_ALGORITHM,
    DEFAULT_KEY_SIZES,
    DEFAULT_MIN_TLS_VERSION,
    DEFAULT_ROTATION_POLICY,
    DEFAULT_SECRET_DELETION_POLICY,
    DEFAULT_SENDER,
    DEFAULT_SERVICE_TYPE,
    DEFAULT_TRUST_BUNDLE_KEY,
    DEFAULT_VALIDATION_INTERVAL,
    ISSUANCE_ONLY_FIELDS,
    KEY_SIZES,
    MAX_DNS_NAMES,
    MAX_RESTART_TARGETS,
    MIN_VALIDATION_INTERVAL,
    OUTPUT_FORMATS,
    RESTART_TARGET_KINDS,
    ROTATION_POLICIES,
    SECRET_DELETION_POLICIES,
    SECRET_NAME_SUFFIX,
    SENDERS,
    TLS_VERSIONS,
    TRUST_BUNDLE_KINDS,
    AcmeSpec,
    CheckOnlySpec,
    EndpointSpec,
    ExternalAccountBinding,
    Http01Spec,
    PrivateKeySpec,
    RestartTarget,
    SecretKeyRef,
    SpecError,
    TrustBundleRef,
    ValidationSpec,
)


class AcmeDefaults(Protocol):
    """What `parse_spec` needs of the operator's settings: the ACME directory URL and the
    contact email used when a spec names none. `settings.Settings` is one; taking it as
    this protocol keeps the api package free of imports from the rest of the operator."""

    @property
    def acme_server(self) -> str:
        """The ACME directory URL used when spec.acme.server is absent."""

    @property
    def acme_email(self) -> str | None:
        """The account contact used when spec.acme.email is absent; None for none."""


# --- patterns, kept identical to the CRD's CEL rules -------------------------------------

_PROFILE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# The CRD's own pattern for spec.validation.connectTo (a port is required, no leading
# zero); the checker reads the accepted value with formats.split_host_port.
_CONNECT_TO_RE: Final = re.compile(
    rf"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?):{_PORT}"
)

_MAX_PREFERRED_CHAIN: Final = 64
_MAX_KEY_ID: Final = 512

# These two the CRD defaults to {} and fills with defaults of their own, so they are
# present on every stored object: only values other than those defaults are refused.
_CHECK_ONLY_DEFAULTED: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "http01": {"serviceType": DEFAULT_SERVICE_TYPE},
        "privateKey": {"algorithm": DEFAULT_KEY_ALGORITHM, "rotationPolicy": "Always"},
    }
)


def parse_spec(spec: Mapping[str, Any], *, name: str, settings: AcmeDefaults) -> EndpointSpec:
    """Read a WebhookEndpoint's spec, apply defaults, and refuse what the CRD would refuse.

    `name` is metadata.name (for the default Secret name); `settings` gives the operator's
    defaults for the ACME server and contact email. Raises SpecError naming the first
    offending field.
    """
    if not isinstance(spec, Mapping):
        raise SpecError("spec: must be an object")
    dns_names = _parse_dns_names(spec.get("dnsNames"))
    if spec.get("checkOnly") is not None:
        return _parse_check_only(spec, dns_names)
    return EndpointSpec(
        dns_names=dns_names,
        secret_name=_parse_secret_name(spec.get("secretName"), name),
        acme=_parse_acme(object_field(spec, "acme", "spec"), settings),
        http01=parse_http01(object_field(spec, "http01", "spec")),
        private_key=_parse_private_key(object_field(spec, "privateKey", "spec")),
        renew_before=_parse_renew_before(spec.get("renewBefore")),
        validation=_parse_validation(object_field(spec, "validation", "spec"), dns_names[0]),
        secret_deletion_policy=enum_field(
            spec,
            "secretDeletionPolicy",
            "spec",
            SECRET_DELETION_POLICIES,
            DEFAULT_SECRET_DELETION_POLICY,
        ),
        additional_output_formats=_parse_output_formats(spec.get("additionalOutputFormats")),
        restart_targets=_parse_restart_targets(spec.get("restartTargets")),
    )


def _parse_check_only(spec: Mapping[str, Any], dns_names: tuple[str, ...]) -> EndpointSpec:
    path = "spec.checkOnly"
    check_only = object_field(spec, "checkOnly", "spec")
    for key in ISSUANCE_ONLY_FIELDS:
        if spec.get(key) is not None:
            raise SpecError(
                f"spec.{key}: a check-only endpoint obtains no certificate; remove spec.{key} "
                f"or {path}"
            )
    for key, defaults in _CHECK_ONLY_DEFAULTED.items():
        given = object_field(spec, key, "spec")
        if any(defaults.get(name) != value for name, value in given.items()):
            what = "solves no challenge" if key == "http01" else "makes no key"
            raise SpecError(
                f"spec.{key}: a check-only endpoint {what}; remove spec.{key} or {path}"
            )
    # The CRD defaults it to Retain; anything else would promise to delete a Secret the
    # operator never owns.
    if spec.get("secretDeletionPolicy") not in (None, DEFAULT_SECRET_DELETION_POLICY):
        raise SpecError(
            "spec.secretDeletionPolicy: a check-only endpoint never owns or deletes its Secret; "
            "remove the field or set it to Retain"
        )
    secret_name = None
    if check_only.get("secretRef") is not None:
        ref_path = f"{path}.secretRef"
        ref = object_field(check_only, "secretRef", path)
        secret_name = subdomain(
            required_string(ref, "name", ref_path), f"{ref_path}.name", "Secret name"
        )
    return EndpointSpec(
        dns_names=dns_names,
        secret_name=secret_name or "",
        acme=AcmeSpec(server=""),
        http01=Http01Spec(),
        private_key=PrivateKeySpec(),
        renew_before=None,
        validation=_parse_validation(object_field(spec, "validation", "spec"), dns_names[0]),
        check_only=CheckOnlySpec(secret_name=secret_name),
    )


def _parse_dns_names(value: Any) -> tuple[str, ...]:
    where = "spec.dnsNames"
    if value is None:
        raise SpecError(f"{where}: is required; list the host names the certificate is for")
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list of host names")
    if not value:
        raise SpecError(f"{where}: must list at least one host name")
    if len(value) > MAX_DNS_NAMES:
        raise SpecError(
            f"{where}: {len(value)} names is more than the {MAX_DNS_NAMES} a certificate may hold"
        )
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        if not isinstance(item, str):
            raise SpecError(f"{item_where}: must be a string")
        check_dns_name(item, item_where)
        if item in seen:
            raise SpecError(f"{item_where}: {item!r} is listed twice")
        seen.add(item)
    return tuple(value)


def _parse_secret_name(value: Any, name: str) -> str:
    if value is None:
        default = f"{name}{SECRET_NAME_SUFFIX}"
        if not is_subdomain(default):
            raise SpecError(
                f"spec.secretName: the default {default!r} is not a valid Secret name; "
                "set spec.secretName"
            )
        return default
    if not isinstance(value, str):
        raise SpecError("spec.secretName: must be a string")
    return subdomain(value, "spec.secretName", "Secret name")


def _parse_acme(acme: Mapping[str, Any], settings: AcmeDefaults) -> AcmeSpec:
    path = "spec.acme"
    server = string_field(acme, "server", path)
    server = https_url(server, f"{path}.server") if server is not None else settings.acme_server
    email = string_field(acme, "email", path)
    if email is not None and not is_email_address(email):
        raise SpecError(
            f"{path}.email: {email!r} is not an email address such as ops@example.com "
            "(one address, without 'mailto:')"
        )
    preferred_chain = string_field(acme, "preferredChain", path)
    if preferred_chain is not None and len(preferred_chain) > _MAX_PREFERRED_CHAIN:
        raise SpecError(f"{path}.preferredChain: an issuer common name has at most 64 characters")
    profile = string_field(acme, "profile", path)
    if profile is not None and not _PROFILE_RE.fullmatch(profile):
        raise SpecError(
            f"{path}.profile: {profile!r} is not a profile name (letters, digits, '.', '_' "
            "and '-', at most 64 characters), e.g. 'classic' or 'shortlived'"
        )
    return AcmeSpec(
        server=server,
        email=email if email is not None else settings.acme_email,
        external_account_binding=_parse_eab(acme, path),
        preferred_chain=preferred_chain,
        profile=profile,
    )


def _parse_eab(acme: Mapping[str, Any], path: str) -> ExternalAccountBinding | None:
    if acme.get("externalAccountBinding") is None:
        return None
    eab_path = f"{path}.externalAccountBinding"
    eab_obj = object_field(acme, "externalAccountBinding", path)
    key_id = required_string(eab_obj, "keyID", eab_path)
    if len(key_id) > _MAX_KEY_ID:
        raise SpecError(f"{eab_path}.keyID: longer than {_MAX_KEY_ID} characters")
    ref_path = f"{eab_path}.keySecretRef"
    if eab_obj.get("keySecretRef") is None:
        raise SpecError(f"{ref_path}: is required (the Secret holding the HMAC key)")
    ref = object_field(eab_obj, "keySecretRef", eab_path)
    return ExternalAccountBinding(
        key_id=key_id,
        key_secret_ref=SecretKeyRef(
            name=subdomain(
                required_string(ref, "name", ref_path), f"{ref_path}.name", "Secret name"
            ),
            key=data_key(required_string(ref, "key", ref_path), f"{ref_path}.key"),
        ),
    )


def _parse_private_key(key: Mapping[str, Any]) -> PrivateKeySpec:
    path = "spec.privateKey"
    algorithm = enum_field(key, "algorithm", path, tuple(KEY_SIZES), DEFAULT_KEY_ALGORITHM)
    size = key.get("size")
    if size is None:
        size = DEFAULT_KEY_SIZES[algorithm]
    elif not isinstance(size, int) or isinstance(size, bool):
        raise SpecError(f"{path}.size: must be an integer number of bits")
    elif size not in KEY_SIZES[algorithm]:
        allowed = " or ".join(str(s) for s in KEY_SIZES[algorithm])
        raise SpecError(f"{path}.size: {algorithm} keys are {allowed} bits, not {size}")
    return PrivateKeySpec(
        algorithm=algorithm,
        size=size,
        rotation_policy=enum_field(
            key, "rotationPolicy", path, ROTATION_POLICIES, DEFAULT_ROTATION_POLICY
        ),
    )


def _parse_renew_before(value: Any) -> timedelta | None:
    if value is None:
        return None
    where = "spec.renewBefore"
    renew_before = duration(value, where)
    if renew_before <= timedelta(0):
        raise SpecError(f"{where}: {value!r} must be longer than zero")
    return renew_before


def _parse_validation(validation: Mapping[str, Any], primary_name: str) -> ValidationSpec:
    path = "spec.validation"
    url = string_field(validation, "url", path)
    url = https_url(url, f"{path}.url") if url is not None else f"https://{primary_name}/"
    interval = DEFAULT_VALIDATION_INTERVAL
    if validation.get("interval") is not None:
        raw = validation["interval"]
        interval = duration(raw, f"{path}.interval")
        if interval < MIN_VALIDATION_INTERVAL:
            raise SpecError(f"{path}.interval: {raw!r} is shorter than the minimum of 1m")
    connect_to = string_field(validation, "connectTo", path)
    if connect_to is not None and not _CONNECT_TO_RE.fullmatch(connect_to):
        raise SpecError(
            f"{path}.connectTo: {connect_to!r} is not 'host:port' (a host name, an IPv4 "
            "address or a bracketed IPv6 address, and a port from 1 to 65535)"
        )
    if isinstance(validation.get("minTLSVersion"), float):
        # YAML reads an unquoted 1.2 as a number.
        raise SpecError(f'{path}.minTLSVersion: must be the string "1.2" or "1.3" (quote it)')
    return ValidationSpec(
        url=url,
        interval=interval,
        connect_to=connect_to,
        trust_bundle=_parse_trust_bundle(validation, path),
        min_tls_version=enum_field(
            validation, "minTLSVersion", path, TLS_VERSIONS, DEFAULT_MIN_TLS_VERSION
        ),
        sender=enum_field(validation, "sender", path, SENDERS, DEFAULT_SENDER),
    )


def _parse_trust_bundle(validation: Mapping[str, Any], path: str) -> TrustBundleRef | None:
    if validation.get("trustBundle") is None:
        return None
    bundle_path = f"{path}.trustBundle"
    bundle = object_field(validation, "trustBundle", path)
    required_string(bundle, "kind", bundle_path)
    kind = enum_field(bundle, "kind", bundle_path, TRUST_BUNDLE_KINDS, "")
    bundle_name = required_string(bundle, "name", bundle_path)
    key = string_field(bundle, "key", bundle_path) or DEFAULT_TRUST_BUNDLE_KEY
    return TrustBundleRef(
        kind=kind,
        name=subdomain(bundle_name, f"{bundle_path}.name", f"{kind} name"),
        key=data_key(key, f"{bundle_path}.key"),
    )


def _parse_output_formats(value: Any) -> tuple[str, ...]:
    where = "spec.additionalOutputFormats"
    result: list[str] = []
    for index, item in enumerate(list_field(value, where)):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object such as {{type: CertbotFiles}}")
        if item.get("type") is None:
            raise SpecError(f"{item_where}.type: is required (CertbotFiles or CombinedPEM)")
        kind = enum_field(item, "type", item_where, OUTPUT_FORMATS, "")
        if kind in result:
            raise SpecError(f"{item_where}: {kind} is listed twice")
        result.append(kind)
    return tuple(result)


def _parse_restart_targets(value: Any) -> tuple[RestartTarget, ...]:
    where = "spec.restartTargets"
    items = list_field(value, where)
    if len(items) > MAX_RESTART_TARGETS:
        raise SpecError(
            f"{where}: {len(items)} targets is more than the {MAX_RESTART_TARGETS} allowed"
        )
    result: list[RestartTarget] = []
    for index, item in enumerate(items):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object with kind and name")
        if item.get("kind") is None:
            raise SpecError(f"{item_where}.kind: is required (Deployment or StatefulSet)")
        kind = enum_field(item, "kind", item_where, RESTART_TARGET_KINDS, "")
        name = subdomain(
            required_string(item, "name", item_where), f"{item_where}.name", f"{kind} name"
        )
        target = RestartTarget(kind=kind, name=name)
        if target in result:
            raise SpecError(f"{item_where}: {kind} {name!r} is listed twice")
        result.append(target)
    return tuple(result)
