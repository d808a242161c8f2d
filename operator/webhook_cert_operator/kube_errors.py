"""Adapter: which failures of a Kubernetes API call pass on their own.

The API server restarting (connections refused or reset, or no answer in time), its
storage briefly gone (etcd timeouts answer 500, 503 or 504) and throttling (429) are worth
the same request again a moment later. Any other answer (403, 404, 409, 422, ...) is the
API's verdict.
"""

from __future__ import annotations

import requests

from webhook_cert_operator.kube_client import ApiError

_PASSING_STATUSES = frozenset({429, 500, 502, 503, 504})


def passes_on_its_own(error: BaseException) -> bool:
    """Whether `error`, raised by a call of `kube.Kube`, may pass if the call is repeated."""
    if isinstance(error, ApiError):
        return error.status in _PASSING_STATUSES
    return isinstance(error, (requests.ConnectionError, requests.Timeout, ConnectionError))
