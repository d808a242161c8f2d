"""ACME adapter: the operator's only door to an ACME CA (RFC 8555, RFC 9773).

It wraps the `acme` library (certbot's `ClientV2`/`ClientNetwork`) and speaks in this
project's own small frozen dataclasses, so that no other module touches `acme` or
`josepy` types. Every call blocks: the orchestration runs it in worker threads, never on
kopf's event loop. One `AcmeClient` serves one (CA, account key) pair and may be shared by
threads once `ensure_account` has returned.

What it adds to the library:
- the JWS algorithm follows the account key (the library defaults to RS256);
- orders without a CSR, with RFC 9773 `replaces` and the ACME profiles extension;
- polling with an injected clock and sleep that never polls sooner than `Retry-After`;
- preferred-chain selection among the `alternate` chains (RFC 8555 section 7.4.2);
- the ARI window itself, not just a random time picked inside it;
- errors as `AcmeError` / `AcmeUnavailable` with the problem type, a stable message and
  the CA's `Retry-After`, and never a token or key authorization in them.

Secrets: the account key stays inside the JWK; tokens and key authorizations leave only
through `Http01Challenge`, whose repr hides them, and are cut out of problem details.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import requests
from acme import challenges, messages
from acme import client as acme_lib
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy.errors import DeserializationError
from josepy.interfaces import JSONDeSerializable
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA
from requests.utils import parse_header_links

from webhook_cert_operator import __version__
from webhook_cert_operator.api.formats import CHALLENGE_PATH_PREFIX, challenge_path

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

ERROR_PREFIX: Final = "urn:ietf:params:acme:error:"

# Polling (RFC 8555 section 7.5.1 and 7.4): never sooner than the CA's Retry-After, never
# faster than MIN_POLL_INTERVAL, and without a Retry-After a gentle backoff up to
# MAX_DEFAULT_POLL_INTERVAL, as Let's Encrypt's integration guide asks of clients.
MIN_POLL_INTERVAL: Final = 1.0
MAX_DEFAULT_POLL_INTERVAL: Final = 10.0

# RFC 8555 section 6.5: a badNonce answer carries a fresh nonce and the request is simply
# sent again. The library retries once; a CA that rejects nonces at random (Pebble does
# 5% by default) needs a few more before the error reaches the caller.
BAD_NONCE_ATTEMPTS: Final = 5

# RFC 8555 section 8.3: a token is base64url only, so it is safe in a URL path.
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,}")
_REDACTED: Final = "[redacted]"
# Besides the secrets a call knows, anything shaped like a key authorization (token "."
# 43-character SHA-256 thumbprint, RFC 8555 section 8.1) or a challenge path's token is
# cut out: a misrouted request may have been answered with another challenge's secret.
_KEY_AUTHORIZATION_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_CHALLENGE_PATH_RE: Final = re.compile(f"({re.escape(CHALLENGE_PATH_PREFIX)})[A-Za-z0-9_-]+")


# ---------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Problem:
    """An ACME problem document (RFC 8555 section 6.7), reduced to what callers show."""

    type: str | None
    detail: str


@dataclass(frozen=True)
class Order:
    """An ACME order as the CA last described it (RFC 8555 section 7.1.3).

    The URL alone is enough to resume: `AcmeClient.get_order(url)` returns a fresh copy.
    The CSR is not part of an order until finalization, so it is not kept here.
    """

    url: str
    status: str
    identifiers: tuple[str, ...]
    authorizations: tuple[str, ...]
    finalize_url: str
    certificate_url: str | None = None
    error: Problem | None = None
    expires: datetime.datetime | None = None
    replaces: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Http01Challenge:
    """One pending HTTP-01 challenge (RFC 8555 section 8.3).

    The solver serves `key_authorization` at `path` on `identifier`, port 80. Token and
    key authorization are kept out of the repr so that logging the value leaks neither.
    """

    identifier: str
    url: str
    authz_url: str
    status: str
    token: str = field(repr=False)
    key_authorization: str = field(repr=False)

    @property
    def path(self) -> str:
        """The request path the CA will fetch."""
        return challenge_path(self.token)


@dataclass(frozen=True)
class RenewalInfo:
    """The CA's suggested renewal window for one certificate (RFC 9773 section 4.2).

    `retry_after_seconds` is the CA's Retry-After as sent (None when absent); RFC 9773
    section 4.3.3 leaves clamping it to the caller.
    """

    start: datetime.datetime
    end: datetime.datetime
    explanation_url: str | None
    retry_after_seconds: float | None


# ---------------------------------------------------------------------------------------
# Errors


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


# ---------------------------------------------------------------------------------------
# Pure helpers


def jws_algorithm_for(key: object) -> JWASignature:
    """The JWS algorithm for an account key (RFC 7518 section 3.1).

    ES256/ES384/ES512 must match the curve; the library's RS256 default only fits RSA.
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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def cert_id(cert_pem: bytes) -> str:
    """The ARI certificate identifier (RFC 9773 section 4.1), also the value of `replaces`.

    base64url(authority key identifier) "." base64url(DER INTEGER bytes of the serial).
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        raise ValueError("certificate has no authority key identifier") from None
    key_identifier = aki.value.key_identifier
    if key_identifier is None:
        raise ValueError("certificate's authority key identifier has no key identifier")
    serial = cert.serial_number
    # The DER INTEGER content: big-endian two's complement, so a serial whose top bit is
    # set gets a leading zero byte (RFC 9773 section 4.1 asks for exactly these bytes).
    serial_bytes = serial.to_bytes(math.ceil((serial.bit_length() + 1) / 8), "big", signed=True)
    return f"{_b64url(key_identifier)}.{_b64url(serial_bytes)}"


def parse_retry_after(value: str | None, now: datetime.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 section 10.2.3), None if absent.

    Both forms are accepted: delay-seconds and an HTTP-date (measured from `now`).
    Nonsense yields None, a date in the past yields 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now).total_seconds())


def poll_delay(retry_after: float | None, attempt: int) -> float:
    """How long to wait before polling again.

    Never less than the CA's Retry-After nor MIN_POLL_INTERVAL; without a Retry-After,
    1 s, 2 s, 4 s, ... up to MAX_DEFAULT_POLL_INTERVAL.
    """
    if retry_after is not None:
        return max(MIN_POLL_INTERVAL, retry_after)
    return max(MIN_POLL_INTERVAL, min(MAX_DEFAULT_POLL_INTERVAL, 2.0 ** max(attempt, 0)))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, key authorizations and challenge tokens.

    Longer secrets go first, so a key authorization is cut out whole before its token.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _KEY_AUTHORIZATION_RE.sub(_REDACTED, text)
    return _CHALLENGE_PATH_RE.sub(rf"\g<1>{_REDACTED}", text)


def _parse_time(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Python 3.11 reads RFC 3339 with "Z" and drops digits past microseconds.
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def parse_problem(jobj: object) -> Problem:
    """A problem document as a `Problem`, subproblems folded into the detail."""
    if not isinstance(jobj, Mapping):
        return Problem(None, "the CA sent no problem details")
    problem_type = jobj.get("type")
    detail = str(jobj.get("detail") or jobj.get("title") or "no detail given")
    parts = [detail]
    for sub in jobj.get("subproblems") or ():
        if isinstance(sub, Mapping):
            ident = sub.get("identifier")
            name = ident.get("value") if isinstance(ident, Mapping) else None
            sub_detail = str(sub.get("detail") or sub.get("type") or "")
            parts.append(f"{name}: {sub_detail}" if name else sub_detail)
    return Problem(str(problem_type) if problem_type else None, "; ".join(parts))


def parse_order(url: str, jobj: Mapping[str, Any]) -> Order:
    """An order object (RFC 8555 section 7.1.3) as an `Order`.

    Identifiers and authorizations are sorted: the CA may shuffle them between fetches
    (Pebble does), and an unchanged order should compare equal.
    """
    status = jobj.get("status")
    finalize_url = jobj.get("finalize")
    if not isinstance(status, str) or not isinstance(finalize_url, str):
        raise AcmeError(None, "the CA returned an order without status or finalize URL")
    identifiers = tuple(
        sorted(
            str(i.get("value"))
            for i in jobj.get("identifiers") or ()
            if isinstance(i, Mapping) and i.get("value")
        )
    )
    authorizations = tuple(sorted(str(a) for a in jobj.get("authorizations") or ()))
    certificate = jobj.get("certificate")
    replaces = jobj.get("replaces")
    profile = jobj.get("profile")
    return Order(
        url=url,
        status=status,
        identifiers=identifiers,
        authorizations=authorizations,
        finalize_url=finalize_url,
        certificate_url=certificate if isinstance(certificate, str) and certificate else None,
        error=parse_problem(jobj["error"]) if jobj.get("error") else None,
        expires=_parse_time(jobj.get("expires")),
        replaces=replaces if isinstance(replaces, str) and replaces else None,
        profile=profile if isinstance(profile, str) and profile else None,
    )


def _issuer_cn(cert: x509.Certificate) -> str | None:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def select_chain(chains: Sequence[str], preferred_issuer_cn: str | None) -> str:
    """Pick the chain a `preferredChain` setting asks for; the first one (the default) else.

    As certbot does: first a chain whose topmost certificate was issued by that common
    name, then a chain with any certificate issued by it.
    """
    if not chains:
        raise ValueError("no chains to choose from")
    if preferred_issuer_cn is None:
        return chains[0]
    parsed = [x509.load_pem_x509_certificates(chain.encode("ascii")) for chain in chains]
    for chain, certs in zip(chains, parsed, strict=True):
        if certs and _issuer_cn(certs[-1]) == preferred_issuer_cn:
            return chain
    for chain, certs in zip(chains, parsed, strict=True):
        if any(_issuer_cn(cert) == preferred_issuer_cn for cert in certs):
            return chain
    return chains[0]


def _key_authorization(token: str, jwk: JWK) -> str:
    # RFC 8555 section 8.1: token "." base64url(JWK thumbprint, RFC 7638, SHA-256).
    return f"{token}.{_b64url(jwk.thumbprint(hash_function=hashes.SHA256))}"


# ---------------------------------------------------------------------------------------
# The network layer: the library's ClientNetwork with our TLS trust, metrics and nonces


class _Network(acme_lib.ClientNetwork):
    """`ClientNetwork` that trusts a given CA bundle, reports each request and keeps quiet.

    `_send_request` is replaced rather than extended: the library's version logs every
    response body at DEBUG level, and authorization bodies carry challenge tokens.
    """

    def __init__(
        self,
        key: JWK,
        alg: JWASignature,
        *,
        verify: str | bool,
        timeout: float,
        user_agent: str,
        observer: RequestObserver | None,
    ) -> None:
        super().__init__(
            key=key, alg=alg, user_agent=user_agent, timeout=max(1, math.ceil(timeout))
        )
        self._verify = verify
        self._timeout = timeout
        self._observer = observer
        self._local = threading.local()

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

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_ATTEMPTS + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_ATTEMPTS:
                    raise
                logger.debug("CA rejected the nonce, sending again (attempt %d)", attempt)
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# The client


class AcmeClient:
    """Blocking ACME client for one CA directory and one account key."""

    def __init__(
        self,
        directory_url: str,
        account_key_pem: bytes,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30,
        user_agent: str = f"webhook-cert-operator/{__version__}",
        observer: RequestObserver | None = None,
    ) -> None:
        key = serialization.load_pem_private_key(account_key_pem, password=None)
        alg = jws_algorithm_for(key)
        if isinstance(key, rsa.RSAPrivateKey):
            self._jwk: JWK = JWKRSA(key=key)
        else:
            self._jwk = JWKEC(key=key)
        self._directory_url = directory_url
        self._net = _Network(
            self._jwk,
            alg,
            verify=ca_bundle if ca_bundle else True,
            timeout=timeout,
            user_agent=user_agent,
            observer=observer,
        )
        self._lock = threading.RLock()
        self._client: acme_lib.ClientV2 | None = None
        self._account_url: str | None = None

    def close(self) -> None:
        """Close pooled HTTP connections."""
        self._net.session.close()

    def __enter__(self) -> AcmeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- accounts (RFC 8555 section 7.3) ------------------------------------------------

    def ensure_account(
        self,
        email: str | None,
        *,
        agree_tos: bool,
        eab: tuple[str, bytes] | None = None,
    ) -> str:
        """The URL of this key's account, registering it first if the CA does not know it.

        `eab` is (key ID, raw HMAC key bytes) for CAs that require External Account
        Binding (RFC 8555 section 7.3.4); decode the base64url key the CA hands out first.
        Terms of service are agreed to only when `agree_tos` is true.
        """
        with self._lock:
            if self._account_url is not None:
                return self._account_url
            client = self._acme()
            with self._calling("find-account"):
                url = self._find_account(client)
            if url is None:
                with self._calling("new-account"):
                    url = self._register(client, email, agree_tos=agree_tos, eab=eab)
            self._net.account = messages.RegistrationResource(body=messages.Registration(), uri=url)
            self._account_url = url
            return url

    def _find_account(self, client: acme_lib.ClientV2) -> str | None:
        # RFC 8555 section 7.3.1: onlyReturnExisting looks the key up without creating.
        query = messages.NewRegistration(only_return_existing=True)
        try:
            response = self._net.post(
                client.directory["newAccount"], query, new_nonce_url=self._nonce_url(client)
            )
        except messages.Error as error:
            if error.code == "accountDoesNotExist":
                return None
            raise
        location = response.headers.get("Location")
        if not location:
            raise AcmeError(None, "the CA found the account but sent no account URL")
        return str(location)

    def _register(
        self,
        client: acme_lib.ClientV2,
        email: str | None,
        *,
        agree_tos: bool,
        eab: tuple[str, bytes] | None,
    ) -> str:
        meta = client.directory.meta
        if eab is None and client.external_account_required():
            raise AcmeError(
                None,
                "the ACME server requires External Account Binding: configure the key ID "
                "and HMAC key it issued for this account",
            )
        terms = meta.terms_of_service
        if terms and not agree_tos:
            raise AcmeError(
                None,
                f"the ACME server requires agreeing to its terms of service ({terms}); "
                "registration needs that agreement to be configured explicitly",
            )
        binding = None
        if eab is not None:
            kid, hmac_key = eab
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=self._jwk.public_key(),
                kid=kid,
                hmac_key=_b64url(hmac_key),
                directory=client.directory,
            )
        registration = messages.NewRegistration.from_data(
            email=email,
            terms_of_service_agreed=True if agree_tos else None,
            external_account_binding=binding,
        )
        try:
            account = client.new_account(registration)
        except acme_errors.ConflictError as existing:
            # Someone registered the same key meanwhile (another replica): same account.
            return str(existing.location)
        if not account.uri:
            raise AcmeError(None, "the CA created the account but sent no account URL")
        return str(account.uri)

    # -- orders (RFC 8555 section 7.4) --------------------------------------------------

    def new_order(
        self,
        dns_names: Sequence[str],
        *,
        replaces: str | None = None,
        profile: str | None = None,
    ) -> Order:
        """Open an order for `dns_names`.

        `replaces` is the `cert_id` of the certificate this order renews (RFC 9773
        section 5); it is sent only to CAs whose directory has `renewalInfo`, since a CA
        without ARI has no use for it and a strict one may refuse the field. `profile`
        names one of the CA's profiles (draft-ietf-acme-profiles) and is checked against
        the directory first so that a typo fails clearly.
        """
        names = list(dict.fromkeys(dns_names))
        if not names:
            raise ValueError("an order needs at least one DNS name")
        client = self._authenticated()
        payload: dict[str, Any] = {
            "identifiers": [{"type": "dns", "value": name} for name in names]
        }
        if replaces is not None:
            if self._directory_has(client, "renewalInfo"):
                payload["replaces"] = replaces
            else:
                logger.debug("CA has no renewalInfo; not sending replaces")
        if profile is not None:
            offered = client.directory.meta.profiles or {}
            if profile not in offered:
                choices = ", ".join(sorted(offered)) or "none"
                raise AcmeError(
                    None, f"the ACME server does not offer profile {profile!r} (offers: {choices})"
                )
            payload["profile"] = profile
        with self._calling("new-order"):
            response = self._post(client, client.directory["newOrder"], _Json(payload))
            location = response.headers.get("Location")
            if not location:
                raise AcmeError(None, "the CA created an order but sent no order URL")
            return parse_order(str(location), self._json(response))

    def get_order(self, url: str) -> Order:
        """The order at `url` as the CA sees it now (to resume after a restart)."""
        with self._calling("get-order"):
            return self._fetch_order(url)[0]

    def pending_http01_challenges(self, order: Order) -> list[Http01Challenge]:
        """The HTTP-01 challenge of every authorization still pending.

        Valid authorizations (reused from earlier orders) need nothing. An authorization
        in any other state, or one without an http-01 challenge, fails the order.
        """
        client = self._authenticated()
        found: list[Http01Challenge] = []
        for authz_url in order.authorizations:
            with self._calling("get-authz"):
                authz = self._json(self._post(client, authz_url, None))
            status = authz.get("status")
            identifier = _identifier_value(authz)
            if status == "valid":
                continue
            if status != "pending":
                raise self._authorization_failed(identifier, authz)
            offered = [c for c in authz.get("challenges") or () if isinstance(c, Mapping)]
            http01 = [c for c in offered if c.get("type") == "http-01"]
            if not http01:
                kinds = ", ".join(sorted({str(c.get("type")) for c in offered})) or "none"
                raise AcmeError(
                    None,
                    f"the CA offers no http-01 challenge for {identifier} (offers: {kinds}); "
                    "this operator can only solve http-01",
                )
            chall = http01[0]
            token = chall.get("token")
            chall_url = chall.get("url")
            if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
                raise AcmeError(None, f"the CA sent a malformed http-01 token for {identifier}")
            if not isinstance(chall_url, str):
                raise AcmeError(
                    None, f"the CA sent an http-01 challenge without URL for {identifier}"
                )
            found.append(
                Http01Challenge(
                    identifier=identifier,
                    url=chall_url,
                    authz_url=authz_url,
                    status=str(chall.get("status", "pending")),
                    token=token,
                    key_authorization=_key_authorization(token, self._jwk),
                )
            )
        return found

    def answer(self, challenge: Http01Challenge) -> None:
        """Tell the CA the challenge is ready to be validated (RFC 8555 section 7.5.1).

        Call it only once the answer is reachable: the CA validates right away and a
        failed validation fails the whole order.
        """
        client = self._authenticated()
        with self._calling(
            "answer-challenge", secrets=(challenge.key_authorization, challenge.token)
        ):
            # The payload is the empty object; the library type serializes to exactly {}.
            response = challenges.HTTP01Response(key_authorization=challenge.key_authorization)
            self._post(client, challenge.url, response)

    def wait_for_authorizations(
        self,
        order: Order,
        *,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> Order:
        """Poll the order's authorizations until all are valid; return the order then.

        `deadline` is a point on the `now` clock. A failed validation raises `AcmeError`
        with the challenge's problem type and detail (RFC 8555 section 7.1.3 and 8.3),
        token and key authorization cut out. Reaching the deadline raises `AcmeTimeout`.
        """
        client = self._authenticated()
        remaining = list(order.authorizations)
        attempt = 0
        while True:
            still_pending: list[str] = []
            waits: list[float] = []
            for authz_url in remaining:
                with self._calling("poll-authz"):
                    authz = self._json(self._post(client, authz_url, None))
                    retry_after = self._retry_after_seconds()
                status = authz.get("status")
                if status == "valid":
                    continue
                if status != "pending":
                    raise self._authorization_failed(_identifier_value(authz), authz)
                still_pending.append(authz_url)
                if retry_after is not None:
                    waits.append(retry_after)
            if not still_pending:
                return self.get_order(order.url)
            remaining = still_pending
            self._pause(
                poll_delay(max(waits) if waits else None, attempt),
                deadline=deadline,
                sleep=sleep,
                now=now,
                waiting_for=f"{len(remaining)} authorization(s) still pending",
            )
            attempt += 1

    def finalize(
        self,
        order: Order,
        csr_pem: bytes,
        *,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> Order:
        """Send the CSR and poll until the certificate is issued (RFC 8555 section 7.4).

        Resumable: an order already processing or valid is polled, not finalized again.
        Returns the valid order, whose `certificate_url` `download_chain` fetches.
        """
        client = self._authenticated()
        current = order
        retry_after: float | None = None
        if current.status == "pending":
            # The caller's copy may predate the last validation.
            current = self.get_order(order.url)
        if current.status == "pending":
            raise AcmeError(
                None, "the order still has pending authorizations; it cannot be finalized yet"
            )
        if current.status == "ready":
            csr = x509.load_pem_x509_csr(csr_pem)
            with self._calling("finalize"):
                response = self._post(
                    client, current.finalize_url, messages.CertificateRequest(csr=csr)
                )
                retry_after = self._retry_after_seconds()
                current = parse_order(order.url, self._json(response))
        attempt = 0
        while True:
            if current.status == "valid" and current.certificate_url:
                return current
            if current.status == "invalid":
                problem = current.error or Problem(None, "no reason given")
                raise AcmeError(problem.type, f"the CA refused to issue: {redact(problem.detail)}")
            self._pause(
                poll_delay(retry_after, attempt),
                deadline=deadline,
                sleep=sleep,
                now=now,
                waiting_for=f"the order is still {current.status}",
            )
            attempt += 1
            with self._calling("poll-order"):
                current, retry_after = self._fetch_order(order.url)

    def download_chain(self, order: Order, *, preferred_chain: str | None = None) -> str:
        """The issued certificate as a PEM chain, leaf first, intermediates after it.

        With `preferred_chain` (an issuer common name, as certbot's --preferred-chain), the
        default chain and the alternates the CA links to (RFC 8555 section 7.4.2) are
        compared and the matching one returned; the default when none matches.
        """
        if not order.certificate_url:
            raise AcmeError(None, "the order has no certificate yet")
        client = self._authenticated()
        with self._calling("download-cert"):
            response = self._post(client, order.certificate_url, None)
            chains = [_normalize_chain(response.text)]
        if preferred_chain is not None:
            for url in _alternate_links(response):
                with self._calling("download-alternate"):
                    chains.append(_normalize_chain(self._post(client, url, None).text))
        return select_chain(chains, preferred_chain)

    # -- renewal information (RFC 9773) --------------------------------------------------

    def renewal_info(self, cert_pem: bytes) -> RenewalInfo | None:
        """The CA's suggested renewal window for a certificate; None when it has no ARI.

        Unlike the library's `ClientV2.renewal_time`, this returns the window itself, so
        the renewal logic can keep one random point in it while the window does not move.
        Call it only for unexpired certificates (RFC 9773 section 4.3).
        """
        client = self._acme()
        if not self._directory_has(client, "renewalInfo"):
            return None
        url = f"{str(client.directory['renewalInfo']).rstrip('/')}/{cert_id(cert_pem)}"
        with self._calling("renewal-info"):
            # RFC 9773 section 4.2: a plain, unauthenticated GET.
            response = self._net.get(url)
            retry_after = self._retry_after_seconds()
            body = self._json(response)
        window = body.get("suggestedWindow")
        start = _parse_time(window.get("start")) if isinstance(window, Mapping) else None
        end = _parse_time(window.get("end")) if isinstance(window, Mapping) else None
        if start is None or end is None or end <= start:
            # RFC 9773 section 4.2: a window whose end is not after its start is invalid.
            raise AcmeError(None, "the CA sent renewal information without a valid window")
        explanation = body.get("explanationURL")
        return RenewalInfo(
            start=start,
            end=end,
            explanation_url=explanation if isinstance(explanation, str) else None,
            retry_after_seconds=retry_after,
        )

    # -- plumbing ------------------------------------------------------------------------

    def _acme(self) -> acme_lib.ClientV2:
        with self._lock:
            if self._client is None:
                with self._calling("directory"):
                    directory = acme_lib.ClientV2.get_directory(self._directory_url, self._net)
                self._client = acme_lib.ClientV2(directory, self._net)
            return self._client

    def _authenticated(self) -> acme_lib.ClientV2:
        if self._account_url is None:
            raise RuntimeError("ensure_account() must succeed before other ACME requests")
        return self._acme()

    @staticmethod
    def _directory_has(client: acme_lib.ClientV2, name: str) -> bool:
        try:
            return bool(client.directory[name])
        except KeyError:
            return False

    @staticmethod
    def _nonce_url(client: acme_lib.ClientV2) -> str:
        return str(client.directory["newNonce"])

    def _post(
        self, client: acme_lib.ClientV2, url: str, obj: JSONDeSerializable | None
    ) -> requests.Response:
        # obj None is POST-as-GET (RFC 8555 section 6.3): an empty JWS payload.
        return self._net.post(url, obj, new_nonce_url=self._nonce_url(client))

    def _fetch_order(self, url: str) -> tuple[Order, float | None]:
        response = self._post(self._authenticated(), url, None)
        return parse_order(url, self._json(response)), self._retry_after_seconds()

    def _retry_after_seconds(self) -> float | None:
        return parse_retry_after(self._net.last_retry_after, datetime.datetime.now(datetime.UTC))

    @staticmethod
    def _json(response: requests.Response) -> Mapping[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise AcmeError(None, "the CA sent a response that is not JSON") from None
        if not isinstance(body, Mapping):
            raise AcmeError(None, "the CA sent a JSON response that is not an object")
        return body

    def _pause(
        self,
        delay: float,
        *,
        deadline: float,
        sleep: Callable[[float], None],
        now: Callable[[], float],
        waiting_for: str,
    ) -> None:
        if now() + delay > deadline:
            # Waiting less than the CA asked would be impolite, waiting past the deadline
            # pointless: give up now and let the caller resume later.
            raise AcmeTimeout(
                None,
                f"gave up waiting for the CA: {waiting_for}",
                retry_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay),
            )
        sleep(delay)

    def _authorization_failed(self, identifier: str, authz: Mapping[str, Any]) -> AcmeError:
        status = authz.get("status")
        offered = [c for c in authz.get("challenges") or () if isinstance(c, Mapping)]
        secrets: list[str] = []
        for chall in offered:
            token = chall.get("token")
            if isinstance(token, str) and token:
                secrets += [_key_authorization(token, self._jwk), token]
        # Prefer the http-01 error: that is the challenge this operator answers.
        failed = sorted(
            (c for c in offered if c.get("error")), key=lambda c: c.get("type") != "http-01"
        )
        if failed:
            problem = parse_problem(failed[0]["error"])
            return AcmeError(
                problem.type,
                f"validation of {identifier} failed: {redact(problem.detail, secrets)}",
            )
        return AcmeError(None, f"the authorization for {identifier} is {status}")

    @contextmanager
    def _calling(self, kind: str, *, secrets: Sequence[str] = ()) -> Iterator[None]:
        """Label the requests inside for the observer and translate library errors."""
        previous = self._net.kind
        self._net.kind = kind
        try:
            yield
        except AcmeError:
            raise
        except requests.RequestException as exc:
            raise AcmeUnavailable(None, _network_failure(self._directory_url, exc)) from None
        except (acme_errors.Error, DeserializationError) as exc:
            # messages.Error (a problem document) is an acme_errors.Error too.
            raise self._failure(kind, exc, secrets) from None
        finally:
            self._net.kind = previous

    def _failure(self, kind: str, exc: Exception, secrets: Sequence[str]) -> AcmeError:
        status = self._net.last_status
        problem = self._net.last_problem
        if problem is None and isinstance(exc, messages.Error):
            problem = parse_problem(exc.to_partial_json())
        retry_after = self._retry_after_seconds()
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


class _Json(JSONDeSerializable):
    """A literal JSON object payload, for request fields the library has no type for."""

    def __init__(self, jobj: Mapping[str, Any]) -> None:
        self._jobj = dict(jobj)

    def to_partial_json(self) -> dict[str, Any]:
        return self._jobj

    @classmethod
    def from_json(cls, jobj: Any) -> _Json:
        return cls(jobj)

    def __bool__(self) -> bool:
        # The library sends an empty payload (POST-as-GET) for falsy objects.
        return True


def _identifier_value(authz: Mapping[str, Any]) -> str:
    ident = authz.get("identifier")
    if isinstance(ident, Mapping) and ident.get("value"):
        return str(ident["value"])
    return "an identifier"


def _problem_in(response: requests.Response) -> Problem | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping) and ("type" in body or "detail" in body):
        return parse_problem(body)
    return None


def _alternate_links(response: requests.Response) -> list[str]:
    # requests' `response.links` keeps one link per relation; a CA may send several.
    header = response.headers.get("Link")
    if not header:
        return []
    return [
        urljoin(response.url, link["url"])
        for link in parse_header_links(header)
        if link.get("rel") == "alternate" and link.get("url")
    ]


def _normalize_chain(text: str) -> str:
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except ValueError:
        raise AcmeError(None, "the CA sent a certificate chain that is not PEM") from None
    if not certs:
        raise AcmeError(None, "the CA sent an empty certificate chain")
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)


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
