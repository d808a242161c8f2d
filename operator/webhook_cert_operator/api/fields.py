"""Pure (no I/O, no clock): the spec parser's field readers. Each takes the parent object, a
key and the field's path (for the message), checks one Kubernetes or CRD rule and raises
SpecError naming the field.

The patterns are kept identical to the CRD's CEL rules (`tests/unit/test_crd_schema.py`
checks that the two agree), because an object may have been stored under an older CRD or
by an API server that does not run CEL, and `api/parse.py` must refuse what the CRD would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

from webhook_cert_operator.api.formats import is_https_url, is_ip_address, parse_duration
from webhook_cert_operator.api.types import SpecError

# A DNS-1123 subdomain (Secret, ConfigMap, IngressClass, Gateway names), at most 253.
_SUBDOMAIN_RE: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_DATA_KEY_RE: Final = re.compile(r"[-._a-zA-Z0-9]+")

_MAX_SUBDOMAIN: Final = 253

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_FQDN_RE: Final = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
_ALL_DIGITS_LAST_LABEL_RE: Final = re.compile(r".*\.[0-9]+")
_MAX_FQDN: Final = 253


def object_field(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """The object at `key`, {} when absent or null."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key}: must be an object")
    return value


def string_field(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    """The non-empty string at `key`, None when absent or null."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{path}.{key}: must be a string")
    if not value:
        raise SpecError(f"{path}.{key}: must not be empty")
    return value


def required_string(parent: Mapping[str, Any], key: str, path: str) -> str:
    """The non-empty string at `key`; absent is an error."""
    value = string_field(parent, key, path)
    if value is None:
        raise SpecError(f"{path}.{key}: is required")
    return value


def enum_field(
    parent: Mapping[str, Any], key: str, path: str, allowed: Sequence[str], default: str
) -> str:
    """One of `allowed` at `key`, `default` when absent."""
    value = string_field(parent, key, path)
    if value is None:
        return default
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise SpecError(f"{path}.{key}: {value!r} is not one of {choices}")
    return value


def list_field(value: Any, where: str) -> Sequence[Any]:
    """A list, () when absent or null."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list")
    return value


def is_subdomain(value: str) -> bool:
    """Whether the text is a DNS-1123 subdomain (the name of most Kubernetes objects)."""
    return len(value) <= _MAX_SUBDOMAIN and _SUBDOMAIN_RE.fullmatch(value) is not None


def subdomain(value: str, where: str, what: str) -> str:
    """`value` when it is a DNS-1123 subdomain; `what` names the object in the message."""
    if not is_subdomain(value):
        raise SpecError(
            f"{where}: {value!r} is not a valid {what} (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters)"
        )
    return value


def data_key(value: str, where: str) -> str:
    """`value` when it is a valid ConfigMap or Secret data key."""
    if len(value) > _MAX_SUBDOMAIN or not _DATA_KEY_RE.fullmatch(value):
        raise SpecError(
            f"{where}: {value!r} is not a valid key (letters, digits, '-', '_' and '.', "
            "at most 253 characters)"
        )
    return value


def https_url(value: str, where: str) -> str:
    """`value` when it is an https:// URL with a host (`formats.is_https_url`)."""
    if not is_https_url(value):
        raise SpecError(f"{where}: {value!r} is not an https:// URL with a host")
    return value


def duration(value: Any, where: str) -> timedelta:
    """A Go-style duration string (`formats.parse_duration`) as a timedelta."""
    if not isinstance(value, str):
        raise SpecError(f"{where}: must be a duration string such as '1h' or '90m'")
    try:
        return parse_duration(value)
    except ValueError as error:
        raise SpecError(f"{where}: {error}") from None


# --- host names ---------------------------------------------------------------------


def dns_name_error(name: Any, where: str) -> str | None:
    """Why `name` cannot be a spec.dnsNames entry (the message starts with `where`), or None."""
    if not isinstance(name, str):
        return f"{where}: must be a string"
    try:
        check_dns_name(name, where)
    except SpecError as error:
        return str(error)
    return None


def check_dns_name(name: str, where: str) -> None:
    """Refuse a name that cannot be a spec.dnsNames entry: a wildcard, an IP address, or
    anything but a lowercase fully qualified DNS name of at most 253 characters."""
    # RFC 8555 section 8.3 / Let's Encrypt: HTTP-01 proves control of one host, never of a
    # whole zone, so the CA refuses wildcard identifiers on HTTP-01 (DNS-01 only).
    if "*" in name:
        raise SpecError(
            f"{where}: {name!r} is a wildcard; HTTP-01 cannot validate wildcard names, "
            "list each host name instead"
        )
    if is_ip_address(name):
        raise SpecError(
            f"{where}: {name!r} is an IP address; this operator issues certificates for DNS "
            "names only"
        )
    if (
        len(name) > _MAX_FQDN
        or not _FQDN_RE.fullmatch(name)
        or _ALL_DIGITS_LAST_LABEL_RE.fullmatch(name)
    ):
        raise SpecError(
            f"{where}: {name!r} is not a lowercase fully qualified DNS name (at least two "
            "labels of a-z, 0-9 and '-', each 1-63 characters not starting or ending with "
            "'-', a last label not all digits, at most 253 characters, no trailing dot)"
        )
