"""Pure (no I/O, no clock): reading spec.http01. The solver Service's type, the solver Pod's
and Ingress's templates (labels, annotations, nodeSelector, tolerations, resources) and
the Gateway API parentRefs that replace the Ingress.

`api/parse.py` calls `parse_http01` for the spec's http01 object; the field readers and
the patterns shared with the CRD are in `api/fields.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from webhook_cert_operator.api.fields import (
    enum_field,
    is_subdomain,
    list_field,
    object_field,
    required_string,
    string_field,
    subdomain,
)
from webhook_cert_operator.api.formats import is_label_value
from webhook_cert_operator.api.types import (
    DEFAULT_SERVICE_TYPE,
    MAX_PARENT_REFS,
    SERVICE_TYPES,
    TOLERATION_EFFECTS,
    TOLERATION_OPERATORS,
    Http01Spec,
    IngressTemplate,
    ParentReference,
    PodTemplate,
    SpecError,
)

_QUALIFIED_NAME_RE: Final = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# resource.Quantity's syntax: a decimal number, then a binary (Ki..Ei) or decimal (n..E)
# suffix or an exponent.
_DECIMAL = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY_RE: Final = re.compile(rf"[+-]?{_DECIMAL}(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?{_DECIMAL})?")


def parse_http01(http01: Mapping[str, Any]) -> Http01Spec:
    """Read spec.http01 (an object, {} when absent) with its defaults; SpecError naming
    the field otherwise."""
    path = "spec.http01"
    class_name = string_field(http01, "ingressClassName", path)
    if class_name is not None:
        subdomain(class_name, f"{path}.ingressClassName", "IngressClass name")
    pod = object_field(http01, "podTemplate", path)
    pod_path = f"{path}.podTemplate"
    ingress = object_field(http01, "ingressTemplate", path)
    ingress_path = f"{path}.ingressTemplate"
    parent_refs = _parse_gateway_http_route(http01, path)
    if parent_refs and (class_name is not None or http01.get("ingressTemplate") is not None):
        field_name = "ingressClassName" if class_name is not None else "ingressTemplate"
        raise SpecError(
            f"{path}.{field_name}: the solver routes through the Gateway API "
            f"({path}.gatewayHTTPRoute), not an Ingress; remove one of the two"
        )
    return Http01Spec(
        gateway_parent_refs=parent_refs,
        ingress_class_name=class_name,
        service_type=enum_field(http01, "serviceType", path, SERVICE_TYPES, DEFAULT_SERVICE_TYPE),
        pod_template=PodTemplate(
            labels=_label_map(pod, "labels", pod_path, values=True),
            annotations=_label_map(pod, "annotations", pod_path, values=False),
            node_selector=_label_map(pod, "nodeSelector", pod_path, values=True),
            tolerations=_tolerations(pod.get("tolerations"), pod_path),
            resources=_resources(pod, pod_path),
        ),
        ingress_template=IngressTemplate(
            labels=_label_map(ingress, "labels", ingress_path, values=True),
            annotations=_label_map(ingress, "annotations", ingress_path, values=False),
        ),
    )


def _parse_gateway_http_route(http01: Mapping[str, Any], path: str) -> tuple[ParentReference, ...]:
    if http01.get("gatewayHTTPRoute") is None:
        return ()
    route_path = f"{path}.gatewayHTTPRoute"
    route = object_field(http01, "gatewayHTTPRoute", path)
    refs = list_field(route.get("parentRefs"), f"{route_path}.parentRefs")
    if not refs:
        raise SpecError(f"{route_path}.parentRefs: name at least one Gateway")
    if len(refs) > MAX_PARENT_REFS:
        raise SpecError(f"{route_path}.parentRefs: at most {MAX_PARENT_REFS} Gateways")
    result: list[ParentReference] = []
    for index, item in enumerate(refs):
        where = f"{route_path}.parentRefs[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{where}: must be an object with the Gateway's name")
        name = subdomain(required_string(item, "name", where), f"{where}.name", "Gateway name")
        namespace = string_field(item, "namespace", where)
        if namespace is not None:
            subdomain(namespace, f"{where}.namespace", "namespace name")
        section = string_field(item, "sectionName", where)
        if section is not None:
            subdomain(section, f"{where}.sectionName", "listener name")
        result.append(ParentReference(name, namespace, section))
    return tuple(result)


def _label_map(
    parent: Mapping[str, Any], key: str, path: str, *, values: bool
) -> Mapping[str, str]:
    """A string map whose keys are qualified names (labels, annotations, a nodeSelector);
    `values` also checks that the values are label values."""
    where = f"{path}.{key}"
    raw = object_field(parent, key, path)
    result: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _is_qualified_name(name):
            raise SpecError(
                f"{where}: {name!r} is not a valid key (an optional DNS prefix and '/', then "
                "at most 63 letters, digits, '-', '_' or '.')"
            )
        if not isinstance(value, str):
            raise SpecError(f"{where}[{name!r}]: must be a string")
        if values and not is_label_value(value):
            raise SpecError(
                f"{where}[{name!r}]: {value!r} is not a valid label value (at most 63 "
                "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
            )
        result[name] = value
    return MappingProxyType(result)


def _is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or not is_subdomain(prefix)):
        return False
    return bool(_QUALIFIED_NAME_RE.fullmatch(name))


def _tolerations(value: Any, path: str) -> tuple[Mapping[str, Any], ...]:
    """A Pod's tolerations (key, value, operator, effect, tolerationSeconds), read-only."""
    where = f"{path}.tolerations"
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list")
    result = []
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object")
        toleration: dict[str, Any] = {}
        for key in ("key", "value"):
            text = item.get(key)
            if text is not None:
                if not isinstance(text, str):
                    raise SpecError(f"{item_where}.{key}: must be a string")
                toleration[key] = text
        if item.get("operator") is not None:
            toleration["operator"] = enum_field(
                item, "operator", item_where, TOLERATION_OPERATORS, ""
            )
        if item.get("effect") is not None:
            toleration["effect"] = enum_field(item, "effect", item_where, TOLERATION_EFFECTS, "")
        seconds = item.get("tolerationSeconds")
        if seconds is not None:
            if not isinstance(seconds, int) or isinstance(seconds, bool):
                raise SpecError(f"{item_where}.tolerationSeconds: must be an integer")
            toleration["tolerationSeconds"] = seconds
        result.append(MappingProxyType(toleration))
    return tuple(result)


def _resources(parent: Mapping[str, Any], path: str) -> Mapping[str, Mapping[str, str]]:
    """A container's resources: limits and requests of resource.Quantity strings."""
    requested = object_field(parent, "resources", path)
    where = f"{path}.resources"
    result: dict[str, Mapping[str, str]] = {}
    for kind in ("limits", "requests"):
        amounts: dict[str, str] = {}
        for resource, amount in object_field(requested, kind, where).items():
            if isinstance(amount, int) and not isinstance(amount, bool):
                amount = str(amount)
            if not isinstance(amount, str) or not _QUANTITY_RE.fullmatch(amount):
                raise SpecError(
                    f"{where}.{kind}[{resource!r}]: {amount!r} is not a quantity such as "
                    "'100m', '64Mi' or '1'"
                )
            amounts[str(resource)] = amount
        if amounts:
            result[kind] = MappingProxyType(amounts)
    return MappingProxyType(result)
