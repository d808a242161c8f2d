"""Pure: the ACME objects the operator reads and the values it keeps of them (RFC 8555).

Pure: no I/O, no clock. The adapter (`acme.client`) hands these functions the JSON bodies
the CA sent and gets back small frozen dataclasses, so that no other module meets `acme`
or `josepy` types. Malformed bodies raise `AcmeError` with a stable message.
`RememberedChallenges` holds the pending challenges a client keeps between attempts.
"""

from __future__ import annotations

import base64
import datetime
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.api.formats import challenge_path

# RFC 8555 section 8.3: a token is base64url only, so it is safe in a URL path.
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,}")


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
    # Taken from what the client fetched for an earlier attempt, not from the CA now.
    remembered: bool = False

    @property
    def path(self) -> str:
        """The request path the CA will fetch."""
        return challenge_path(self.token)


class RememberedChallenges:
    """Pending challenges by authorization URL, the `limit` most recently kept, for the
    threads of one client: an authorization's challenges never change (RFC 8555 section
    7.1.4), so one fetched for an attempt still stands for the next while it is unanswered.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._by_authz: OrderedDict[str, Http01Challenge] = OrderedDict()

    def keep(self, challenge: Http01Challenge) -> None:
        with self._lock:
            self._by_authz[challenge.authz_url] = challenge
            self._by_authz.move_to_end(challenge.authz_url)
            while len(self._by_authz) > self._limit:
                self._by_authz.popitem(last=False)

    def recall(self, authz_url: str) -> Http01Challenge | None:
        """The kept challenge, marked `remembered`; None when there is none."""
        with self._lock:
            challenge = self._by_authz.get(authz_url)
        return replace(challenge, remembered=True) if challenge is not None else None

    def forget(self, authz_url: str) -> None:
        with self._lock:
            self._by_authz.pop(authz_url, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_authz)


def b64url(data: bytes) -> str:
    """base64url without padding, as ACME writes binary values (RFC 8555 section 6.1)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def key_authorization(token: str, thumbprint: str) -> str:
    """token "." thumbprint (RFC 8555 section 8.1).

    `thumbprint` is the account key's base64url SHA-256 JWK thumbprint (RFC 7638).
    """
    return f"{token}.{thumbprint}"


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 timestamp as an aware datetime (UTC if it names no zone); None if not one."""
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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_order(url: str, jobj: Mapping[str, Any]) -> Order:
    """An order object (RFC 8555 section 7.1.3) as an `Order`.

    Identifiers and authorizations are sorted: the CA may shuffle them between fetches
    (Pebble does), and an unchanged order should compare equal. Raises `AcmeError` when
    the status or finalize URL is missing.
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
    return Order(
        url=url,
        status=status,
        identifiers=identifiers,
        authorizations=authorizations,
        finalize_url=finalize_url,
        certificate_url=_text(jobj.get("certificate")),
        error=parse_problem(jobj["error"]) if jobj.get("error") else None,
        expires=parse_time(jobj.get("expires")),
        replaces=_text(jobj.get("replaces")),
        profile=_text(jobj.get("profile")),
    )


def new_order_payload(
    dns_names: Sequence[str],
    *,
    replaces: str | None,
    profile: str | None,
    offered_profiles: Collection[str],
) -> dict[str, Any]:
    """The newOrder request body (RFC 8555 section 7.4) for `dns_names`, duplicates dropped.

    `replaces` is the ARI identifier of the certificate renewed (RFC 9773 section 5).
    `profile` must be one of `offered_profiles`, the directory's (draft-ietf-acme-profiles),
    so that a typo fails clearly: `AcmeError` otherwise. `ValueError` for no names.
    """
    names = list(dict.fromkeys(dns_names))
    if not names:
        raise ValueError("an order needs at least one DNS name")
    payload: dict[str, Any] = {"identifiers": [{"type": "dns", "value": name} for name in names]}
    if replaces is not None:
        payload["replaces"] = replaces
    if profile is not None:
        if profile not in offered_profiles:
            choices = ", ".join(sorted(offered_profiles)) or "none"
            raise AcmeError(
                None, f"the ACME server does not offer profile {profile!r} (offers: {choices})"
            )
        payload["profile"] = profile
    return payload


def identifier_value(authz: Mapping[str, Any]) -> str:
    """The DNS name an authorization object (RFC 8555 section 7.1.4) is for, for messages."""
    ident = authz.get("identifier")
    if isinstance(ident, Mapping) and ident.get("value"):
        return str(ident["value"])
    return "an identifier"


def offered_challenges(authz: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The challenge objects of an authorization, whatever else its `challenges` holds."""
    return [c for c in authz.get("challenges") or () if isinstance(c, Mapping)]


def http01_challenge(authz_url: str, authz: Mapping[str, Any], thumbprint: str) -> Http01Challenge:
    """The HTTP-01 challenge of a pending authorization (RFC 8555 sections 7.1.4 and 8.3).

    `thumbprint` is the account key's JWK thumbprint (see `key_authorization`). Raises
    `AcmeError` when the CA offers no http-01 challenge (this operator solves no other)
    or sends a malformed one; the message names neither token nor key authorization.
    """
    identifier = identifier_value(authz)
    offered = offered_challenges(authz)
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
        raise AcmeError(None, f"the CA sent an http-01 challenge without URL for {identifier}")
    return Http01Challenge(
        identifier=identifier,
        url=chall_url,
        authz_url=authz_url,
        status=str(chall.get("status", "pending")),
        token=token,
        key_authorization=key_authorization(token, thumbprint),
    )


def normalize_chain(text: str) -> str:
    """A downloaded certificate chain (RFC 8555 section 7.4.2) as clean PEM, leaf first.

    Raises `AcmeError` when it is not PEM or holds no certificate.
    """
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except ValueError:
        raise AcmeError(None, "the CA sent a certificate chain that is not PEM") from None
    if not certs:
        raise AcmeError(None, "the CA sent an empty certificate chain")
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)


def _issuer_cn(cert: x509.Certificate) -> str | None:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def select_chain(chains: Sequence[str], preferred_issuer_cn: str | None) -> str:
    """Pick the chain a `preferredChain` setting asks for; the first one (the default) else.

    `chains` are PEM chains, the default first, then the `alternate` links (RFC 8555
    section 7.4.2). As certbot does: first a chain whose topmost certificate was issued
    by that common name, then a chain with any certificate issued by it. Raises
    `ValueError` for no chains.
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
