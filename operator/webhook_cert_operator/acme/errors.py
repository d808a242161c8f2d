"""Pure: what can go wrong in an exchange with an ACME CA, as small domain errors.

Pure: no I/O, no clock. The ACME adapter raises only these (and `ValueError` for bad
arguments); the kopf glue maps them to retries: `AcmeUnavailable` and `AcmeTimeout` are
temporary, `AcmeError` carries the CA's problem type (RFC 8555 section 6.7) and
Retry-After so that the caller can decide.
"""

from __future__ import annotations

import datetime
from typing import Final

ERROR_PREFIX: Final = "urn:ietf:params:acme:error:"
"""The namespace of the standard ACME problem types (RFC 8555 section 6.7)."""


class AcmeError(Exception):
    """The CA refused or failed a request, or the exchange could not go on.

    `problem_type` is the ACME problem type URN when the CA sent one. `retry_after` is when
    the CA allows the next attempt (from its Retry-After header), for example with
    `urn:ietf:params:acme:error:rateLimited`. The message never holds a token, a key
    authorization or a key, and has no timestamps, so it can go into status as it is.
    """

    def __init__(
        self,
        problem_type: str | None,
        detail: str,
        retry_after: datetime.datetime | None = None,
    ) -> None:
        super().__init__(problem_type, detail, retry_after)
        self.problem_type = problem_type
        self.detail = detail
        self.retry_after = retry_after

    @property
    def code(self) -> str | None:
        """The short ACME error code, e.g. "rateLimited", for standard problem types."""
        if self.problem_type and self.problem_type.startswith(ERROR_PREFIX):
            return self.problem_type[len(ERROR_PREFIX) :]
        return None

    def __str__(self) -> str:
        if self.problem_type:
            return f"{self.detail} ({self.problem_type})"
        return self.detail


class AcmeUnavailable(AcmeError):
    """The CA could not be reached or answered with a server error (5xx).

    Nothing is wrong with the request: keep the current certificate and try again later.
    """


class AcmeTimeout(AcmeError):
    """The CA was still working on it when the caller's deadline came.

    The order is still usable: resume it later with `AcmeClient.get_order`.
    """
