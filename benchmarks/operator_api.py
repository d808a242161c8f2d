"""The operator's own code that the benchmarks drive, imported in this one place.

The operator package is being reorganised into subpackages: when a module moves, only
these imports change.
"""

from __future__ import annotations

from webhook_cert_operator.api import EndpointSpec, parse_spec
from webhook_cert_operator.config import Settings
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.validation import ChainChecker, CheckResult

__all__ = ["ChainChecker", "CheckResult", "EndpointSpec", "Metrics", "Settings", "parse_spec"]
