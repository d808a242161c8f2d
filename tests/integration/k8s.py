"""Typed access to the Kubernetes Python client's objects, for the integration tests.

The client's type hints declare request bodies as its model classes, every model field
Optional, and custom objects as `object`. At run time it sends a plain dict body as it is,
the API server fills in the fields these tests read, and a custom object is a dict. These
helpers say so once, each with a check, instead of at every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from kubernetes import client

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


def body(value: Mapping[str, Any]) -> Any:
    """A plain dict as a request body: the client serializes it as it is."""
    return value


def plain(value: object) -> dict[str, Any]:
    """A custom object as the client returns it: the API's JSON, as a dict."""
    assert isinstance(value, dict), f"expected a dict, got {type(value).__name__}"
    return value


class _HasMetadata(Protocol):
    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


class _HasStatus(Protocol[T_co]):
    @property
    def status(self) -> T_co | None: ...


class _HasSpec(Protocol[T_co]):
    @property
    def spec(self) -> T_co | None: ...


def metadata(obj: _HasMetadata) -> client.V1ObjectMeta:
    """The object's metadata, which every object the API server returns has."""
    assert obj.metadata is not None, f"{type(obj).__name__} without metadata"
    return obj.metadata


def name(obj: _HasMetadata) -> str:
    """The object's metadata.name."""
    found = metadata(obj).name
    assert found is not None, f"{type(obj).__name__} without a name"
    return found


def status(obj: _HasStatus[T]) -> T:
    """The object's status, which the server has set."""
    assert obj.status is not None, f"{type(obj).__name__} without status"
    return obj.status


def spec(obj: _HasSpec[T]) -> T:
    """The object's spec."""
    assert obj.spec is not None, f"{type(obj).__name__} without spec"
    return obj.spec


def present(value: T | None, what: str) -> T:
    """A field the test needs set (a Secret's data, a Pod's container statuses, ...)."""
    assert value is not None, f"{what} is not set"
    return value
