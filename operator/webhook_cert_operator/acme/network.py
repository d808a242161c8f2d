"""Adapter: the HTTP side of ACME: signing, nonces, retries, timeouts, and errors as domain errors.

Adapter (I/O): it extends the `acme` library's `ClientNetwork` (certbot's) with the CA
bundle to trust, a per-request observer for metrics, more patience with bad nonces
(RFC 8555 section 6.5), and quiet logs; `Network.calling` turns whatever the library or
`requests` raises into `AcmeError` / `AcmeUnavailable` with a stable, redacted message.
Requests of one thread are strictly sequential; several threads may share a `Network`.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import requests
from acme import client as lib_client
from acme import errors as lib_errors
from acme import messages as lib_messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.errors import DeserializationError
from josepy.interfaces import JSONDeSerializable
from josepy.json_util import decode_b64jose
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA
from requests.adapters import BaseAdapter
from requests.utils import parse_header_links

from webhook_cert_operator.acme.ari import parse_retry_after
from webhook_cert_operator.acme.errors import AcmeError, AcmeTimeout, AcmeUnavailable
from webhook_cert_operator.acme.messages import Problem, parse_problem
from webhook_cert_operator.acme.redact import redact

logger = logging.getLogger(__name__)

RequestObserver = Callable[[str, int | None, float], None]
"""Called as (request kind, HTTP status or None on a network error, seconds) per request.

The kind is one of REQUEST_KINDS, a small fixed set fit for a metrics label.
"""

REQUEST_KINDS: Final = (
    "directory",
    "new-nonce",
    "find-account",
    "new-account",
    "new-order",
    "get-order",
    "get-authz",
    "answer-challenge",
    "poll-authz",
    "finalize",
    "poll-order",
    "download-cert",
    "download-alternate",
    "renewal-info",
    "other",
)

# RFC 8555 section 6.5: a badNonce answer carries a fresh nonce and the request is simply
# sent again. The library retries once; a CA that rejects nonces at random (Pebble does
# 5% by default) needs a few more before the error reaches the caller.
BAD_NONCE_ATTEMPTS: Final = 5
BAD_NONCE: Final = "urn:ietf:params:acme:error:badNonce"


def jws_algorithm_for(key: object) -> JWASignature:
    """The JWS algorithm for an account key (RFC 7518 section 3.1).

    ES256/ES384/ES512 must match the curve; the library's RS256 default only fits RSA.
    Raises `ValueError` for other keys.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        return RS256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve: dict[str, JWASignature] = {
            "secp256r1": ES256,
            "secp384r1": ES384,
            "secp521r1": ES512,
        }
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
        raise ValueError(f"unsupported account key curve {key.curve.name}")
    raise ValueError(f"unsupported account key type {type(key).__name__}")


def account_jwk(account_key_pem: bytes) -> tuple[JWK, JWASignature]:
    """The account key (unencrypted PEM) as a JWK and the algorithm that signs with it.

    Raises `ValueError` for a PEM that holds no key or a key ACME cannot sign with.
    """
    key = serialization.load_pem_private_key(account_key_pem, password=None)
    alg = jws_algorithm_for(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), alg
    return JWKEC(key=key), alg


class Network(lib_client.ClientNetwork):
    """`ClientNetwork` that trusts a given CA bundle, reports each request and keeps quiet.

    `server` is the directory URL (its host names the CA in messages); `verify` is a CA
    bundle path or True; `timeout` is seconds per request; `transport`, when given,
    carries every request (a pooled HTTPAdapter; tests pass a fake CA).
    `_send_request` is replaced rather than extended: the library's version logs every
    response body at DEBUG level, and authorization bodies carry challenge tokens.
    """

    def __init__(
        self,
        server: str,
        account_key_pem: bytes,
        *,
        verify: str | bool,
        timeout: float,
        user_agent: str,
        observer: RequestObserver | None,
        transport: BaseAdapter | None = None,
    ) -> None:
        key, alg = account_jwk(account_key_pem)
        super().__init__(
            key=key, alg=alg, user_agent=user_agent, timeout=max(1, math.ceil(timeout))
        )
        self.server = server
        self.jwk = key
        self._verify = verify
        self._timeout = timeout
        self._observer = observer
        self._local = threading.local()
        if transport is not None:
            self.session.mount("http://", transport)
            self.session.mount("https://", transport)

    # What the current thread is doing, for the observer, and what the CA last said, for
    # error translation; requests of one thread are strictly sequential.
    @property
    def kind(self) -> str:
        return getattr(self._local, "kind", "other")

    @kind.setter
    def kind(self, value: str) -> None:
        self._local.kind = value

    @property
    def last_status(self) -> int | None:
        return getattr(self._local, "last_status", None)

    @property
    def last_retry_after(self) -> str | None:
        return getattr(self._local, "last_retry_after", None)

    @property
    def last_problem(self) -> Problem | None:
        return getattr(self._local, "last_problem", None)

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._verify
        headers = kwargs.setdefault("headers", {})
        headers.setdefault("User-Agent", self.user_agent)
        kwargs.setdefault("timeout", self._timeout)
        kind = "new-nonce" if method == "HEAD" else self.kind
        self._local.last_status = None
        self._local.last_retry_after = None
        self._local.last_problem = None
        started = time.monotonic()
        status: int | None = None
        try:
            response = self.session.request(method, url, *args, **kwargs)
            status = response.status_code
        finally:
            self._observe(kind, status, time.monotonic() - started)
        self._local.last_status = status
        self._local.last_retry_after = response.headers.get("Retry-After")
        if not response.ok:
            # Kept because the library drops the problem document of some answers (409).
            self._local.last_problem = _problem_in(response)
            # RFC 8555 section 6.5: error answers carry a fresh nonce too (a badNonce one
            # must, for the retry). The library keeps only those of successful answers
            # and would ask newNonce again; any nonce the CA handed out will do (7.2).
            problem = self._local.last_problem
            if problem is not None and problem.type == BAD_NONCE:
                # The retry takes this one, not another from the pool: the pool may hold
                # nonces the CA no longer knows (it restarted, they expired), each refused
                # in turn, more of them than there are retries.
                self._local.retry_nonce = _nonce_of(response)
            else:
                with contextlib.suppress(lib_errors.BadNonce, lib_errors.MissingNonce):
                    self._add_nonce(response)
        if "Accept" not in headers:
            # As the library does: ACME bodies are UTF-8, don't let requests guess.
            response.encoding = "utf-8"
        return response

    def _observe(self, kind: str, status: int | None, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(kind, status, seconds)
        except Exception:
            # Metrics must never break issuance.
            logger.exception("ACME request observer failed")

    def _get_nonce(self, url: str, new_nonce_url: str) -> Any:
        fresh = getattr(self._local, "retry_nonce", None)
        if fresh is not None:
            self._local.retry_nonce = None
            return fresh
        return super()._get_nonce(url, new_nonce_url)

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_ATTEMPTS + 1):
            try:
                return self._post_once(*args, **kwargs)
            except lib_messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_ATTEMPTS:
                    raise
                logger.debug("CA rejected the nonce, sending again (attempt %d)", attempt)
        raise AssertionError("unreachable")

    def retry_after_seconds(self) -> float | None:
        """The Retry-After of this thread's last answer, in seconds from now."""
        return parse_retry_after(self.last_retry_after, datetime.datetime.now(datetime.UTC))

    @contextlib.contextmanager
    def calling(self, kind: str, *, secrets: Sequence[str] = ()) -> Iterator[None]:
        """Label the requests inside for the observer and translate library errors.

        `kind` is one of REQUEST_KINDS; `secrets` are cut out of any problem detail.
        """
        previous = self.kind
        self.kind = kind
        try:
            yield
        except AcmeError:
            raise
        except requests.RequestException as exc:
            raise AcmeUnavailable(None, _network_failure(self.server, exc)) from None
        except (lib_errors.Error, DeserializationError) as exc:
            # lib_messages.Error (a problem document) is a lib_errors.Error too.
            raise self._failure(kind, exc, secrets) from None
        finally:
            self.kind = previous

    def _failure(self, kind: str, exc: Exception, secrets: Sequence[str]) -> AcmeError:
        status = self.last_status
        problem = self.last_problem
        if problem is None and isinstance(exc, lib_messages.Error):
            problem = parse_problem(exc.to_partial_json())
        retry_after = self.retry_after_seconds()
        when = (
            datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=retry_after)
            if retry_after is not None
            else None
        )
        unavailable = status is not None and status >= 500
        if problem is not None:
            detail = redact(problem.detail, secrets)
            if unavailable:
                return AcmeUnavailable(problem.type, f"the CA failed: {detail}", when)
            return AcmeError(problem.type, detail, when)
        if unavailable:
            return AcmeUnavailable(None, f"the CA answered HTTP {status} ({kind})", when)
        if status is not None and status >= 400:
            return AcmeError(None, f"the CA answered HTTP {status} ({kind})", when)
        # Missing nonce, unparsable body and the like: a CA (or proxy) not speaking ACME.
        return AcmeError(None, f"unexpected answer from the CA ({kind}): {type(exc).__name__}")


def pause(
    delay: float,
    *,
    deadline: float,
    sleep: Callable[[float], None],
    now: Callable[[], float],
    waiting_for: str,
) -> None:
    """Sleep `delay` seconds before polling again, or raise `AcmeTimeout` when that would
    pass `deadline` (a point on the `now` clock); `waiting_for` says what is pending."""
    if now() + delay > deadline:
        # Waiting less than the CA asked would be impolite, waiting past the deadline
        # pointless: give up now and let the caller resume later.
        raise AcmeTimeout(
            None,
            f"gave up waiting for the CA: {waiting_for}",
            retry_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay),
        )
    sleep(delay)


class JsonPayload(JSONDeSerializable):
    """A literal JSON object payload, for request fields the library has no type for."""

    def __init__(self, jobj: Mapping[str, Any]) -> None:
        self._jobj = dict(jobj)

    def to_partial_json(self) -> dict[str, Any]:
        return self._jobj

    @classmethod
    def from_json(cls, jobj: Any) -> JsonPayload:
        return cls(jobj)

    def __bool__(self) -> bool:
        # The library sends an empty payload (POST-as-GET) for falsy objects.
        return True


def json_object(response: requests.Response) -> Mapping[str, Any]:
    """The response body as a JSON object; `AcmeError` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        raise AcmeError(None, "the CA sent a response that is not JSON") from None
    if not isinstance(body, Mapping):
        raise AcmeError(None, "the CA sent a JSON response that is not an object")
    return body


def alternate_links(response: requests.Response) -> list[str]:
    """The absolute URLs of the `Link: <...>;rel="alternate"` headers (RFC 8555 7.4.2)."""
    # requests' `response.links` keeps one link per relation; a CA may send several.
    header = response.headers.get("Link")
    if not header:
        return []
    return [
        urljoin(response.url, link["url"])
        for link in parse_header_links(header)
        if link.get("rel") == "alternate" and link.get("url")
    ]


def _nonce_of(response: requests.Response) -> bytes | None:
    """The answer's Replay-Nonce, decoded as the library keeps nonces; None if it has none."""
    try:
        return decode_b64jose(response.headers[lib_client.ClientNetwork.REPLAY_NONCE_HEADER])
    except (KeyError, DeserializationError):
        return None


def _problem_in(response: requests.Response) -> Problem | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping) and ("type" in body or "detail" in body):
        return parse_problem(body)
    return None


def _network_failure(directory_url: str, exc: requests.RequestException) -> str:
    # Stable wording (status messages must not change between attempts): the host and a
    # kind of failure, not the exception text, which holds object addresses.
    host = urlsplit(directory_url).netloc or directory_url
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "TLS handshake or certificate verification failed"
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        reason = "connection timed out"
    elif isinstance(exc, requests.exceptions.Timeout):
        reason = "no answer in time"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        reason = "connection failed"
    else:
        reason = type(exc).__name__
    return f"cannot reach the ACME server {host}: {reason}"
