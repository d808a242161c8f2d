"""The ACME domain errors: what they show, and that they cross thread and process lines."""

from __future__ import annotations

import datetime
import pickle

from tests.unit.acme_certificates import NOW
from webhook_cert_operator.acme.errors import AcmeError, AcmeUnavailable


def test_an_acme_error_shows_detail_and_type_and_knows_its_code() -> None:
    error = AcmeUnavailable("urn:ietf:params:acme:error:serverInternal", "the CA failed: boom")
    assert str(error) == "the CA failed: boom (urn:ietf:params:acme:error:serverInternal)"
    assert error.code == "serverInternal"
    assert AcmeError(None, "no type").code is None
    assert str(AcmeError(None, "no type")) == "no type"


def test_an_acme_error_survives_pickling_for_worker_threads_and_processes() -> None:
    when = NOW + datetime.timedelta(minutes=2)
    error = AcmeError("urn:ietf:params:acme:error:rateLimited", "too many", when)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem_type, copy.detail, copy.retry_after) == (
        error.problem_type,
        "too many",
        when,
    )
