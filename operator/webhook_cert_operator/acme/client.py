"""Adapter: the operations of RFC 8555 and RFC 9773 against one CA, for one account key.

Adapter (I/O): it drives the `acme` library (certbot's) through `acme.session`, which
keeps the directory and the account, and `acme.network`, which sends the requests; it
speaks in the frozen dataclasses of `acme.messages` and `acme.ari`, so that no other
module touches `acme` or `josepy` types. Every call blocks: the orchestration runs it in
worker threads, never on kopf's event loop. One `AcmeClient` serves one (CA, account key)
pair and may be shared by threads once `ensure_account` has returned; `acme.accounts`
keeps one per account. Beyond the library: orders without a CSR, with RFC 9773
`replaces` and ACME profiles; polling on an injected clock, never sooner than the CA's
Retry-After; preferred-chain selection among the `alternate` chains (RFC 8555 section
7.4.2); the ARI window itself, not a random time picked inside it.

Secrets: the account key stays inside the JWK; tokens and key authorizations leave only
through `Http01Challenge`, whose repr hides them, and are cut out of problem details.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from acme import challenges as lib_challenges
from acme import messages as lib_messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from requests.adapters import BaseAdapter, HTTPAdapter

from webhook_cert_operator import __version__
from webhook_cert_operator.acme import ari, messages, network, session
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.redact import authorization_failure, redact

logger = logging.getLogger(__name__)

#: Pending challenges a client remembers between attempts (about 1 KiB each).
REMEMBERED_CHALLENGES: Final = 1000


class AcmeClient:
    """Blocking ACME client for one CA directory and one account key.

    `directory_url` is the CA's directory (RFC 8555 section 7.1.1); `account_key_pem` an
    unencrypted RSA or EC private key; `ca_bundle` a PEM file to trust instead of the
    system's; `timeout` seconds per HTTP request; `observer` sees every request (metrics);
    `connections` how many HTTPS connections to the CA are kept open for reuse (one per
    thread that may share this client); `transport` carries the requests instead of the
    network (tests pass a fake CA).
    """

    def __init__(
        self,
        directory_url: str,
        account_key_pem: bytes,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30,
        user_agent: str = f"webhook-cert-operator/{__version__}",
        observer: network.RequestObserver | None = None,
        connections: int = 10,
        transport: BaseAdapter | None = None,
    ) -> None:
        self._net = network.Network(
            directory_url,
            account_key_pem,
            verify=ca_bundle if ca_bundle else True,
            timeout=timeout,
            user_agent=user_agent,
            observer=observer,
            transport=transport or HTTPAdapter(pool_maxsize=connections),
        )
        # RFC 8555 section 8.1: the key authorization's base64url JWK thumbprint (RFC 7638).
        self._thumbprint = messages.b64url(self._net.jwk.thumbprint(hash_function=hashes.SHA256))
        self._session = session.AccountSession(self._net, directory_url)
        self._users_lock = threading.Lock()
        self._users = 0
        self._challenges = messages.RememberedChallenges(REMEMBERED_CHALLENGES)

    # -- sharing ------------------------------------------------------------------------

    def lease(self) -> AcmeClient:
        """Count one more user of a shared client; each user calls `close` once when done.

        The registry in `acme.accounts` leases a client for every caller it hands it to.
        """
        with self._users_lock:
            self._users += 1
        return self

    def close(self) -> None:
        """Let go of the client: the last user out closes the pooled HTTP connections.

        The client stays usable (a later request opens new connections), and it keeps
        its directory and account, so a shared client is never closed under a request
        that another thread is making.
        """
        with self._users_lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                self._net.session.close()

    def __enter__(self) -> AcmeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def disowned(self) -> bool:
        """True once the CA answered that it does not know this client's account (RFC 8555
        section 6.7 `accountDoesNotExist`) even after it was found or registered again."""
        return self._session.disowned

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
        Terms of service are agreed to only when `agree_tos` is true. Once known, the URL
        is kept: later calls send nothing.
        """
        return self._session.ensure(email, agree_tos=agree_tos, eab=eab)

    # -- orders (RFC 8555 section 7.4) --------------------------------------------------

    def new_order(
        self,
        dns_names: Sequence[str],
        *,
        replaces: str | None = None,
        profile: str | None = None,
    ) -> messages.Order:
        """Open an order for `dns_names`.

        `replaces` is the `ari.cert_id` of the certificate this order renews (RFC 9773
        section 5); it is sent only to CAs whose directory has `renewalInfo`, since a CA
        without ARI has no use for it and a strict one may refuse the field. `profile`
        names one of the CA's profiles (draft-ietf-acme-profiles) and is checked against
        the directory first so that a typo fails clearly.
        """
        client = self._session.authenticated()
        if replaces is not None and not self._session.offers("renewalInfo"):
            logger.debug("CA has no renewalInfo; not sending replaces")
            replaces = None
        payload = messages.new_order_payload(
            dns_names,
            replaces=replaces,
            profile=profile,
            offered_profiles=client.directory.meta.profiles or {},
        )
        with self._session.calling("new-order"):
            response = self._session.post(
                client.directory["newOrder"], network.JsonPayload(payload)
            )
            location = response.headers.get("Location")
            if not location:
                raise AcmeError(None, "the CA created an order but sent no order URL")
            return messages.parse_order(str(location), network.json_object(response))

    def get_order(self, url: str) -> messages.Order:
        """The order at `url` as the CA sees it now (to resume after a restart)."""
        with self._session.calling("get-order"):
            return self._fetch_order(url)[0]

    def pending_http01_challenges(self, order: messages.Order) -> list[messages.Http01Challenge]:
        """The HTTP-01 challenge of every authorization still pending.

        Valid authorizations (reused from earlier orders) need nothing. An authorization
        in any other state, or one without an http-01 challenge, fails the order.

        A pending challenge this client fetched for an earlier attempt and never answered
        is taken from memory, marked `remembered`: an attempt that fails before answering
        (the self-check never passed) then costs the CA no authorization request, and
        `answer` fetches the authorization once before answering a remembered challenge.
        """
        self._session.authenticated()
        found: list[messages.Http01Challenge] = []
        for authz_url in order.authorizations:
            remembered = self._challenges.recall(authz_url)
            if remembered is not None:
                found.append(remembered)
                continue
            challenge = self._fetch_challenge(authz_url, "get-authz")
            if challenge is not None:
                self._challenges.keep(challenge)
                found.append(challenge)
        return found

    def _fetch_challenge(self, authz_url: str, kind: str) -> messages.Http01Challenge | None:
        """The authorization's pending HTTP-01 challenge as the CA shows it now; None
        when it is valid; `AcmeError` when it is in any other state."""
        with self._session.calling(kind):
            authz = network.json_object(self._session.post(authz_url, None))
        status = authz.get("status")
        if status == "valid":
            return None
        if status != "pending":
            raise authorization_failure(authz, self._thumbprint)
        return messages.http01_challenge(authz_url, authz, self._thumbprint)

    def answer(self, challenge: messages.Http01Challenge) -> None:
        """Tell the CA the challenge is ready to be validated (RFC 8555 section 7.5.1).

        Call it only once the answer is reachable: the CA validates right away and a
        failed validation fails the whole order. A `remembered` challenge is answered
        only if its authorization is still pending with that challenge (it may have been
        validated through another order meanwhile, or have expired).
        """
        self._session.authenticated()
        self._challenges.forget(challenge.authz_url)
        if challenge.remembered:
            current = self._fetch_challenge(challenge.authz_url, "get-authz")
            if current is None:
                return  # valid already: nothing to answer
            if (current.url, current.token) != (challenge.url, challenge.token):
                raise AcmeError(None, f"the CA changed the challenge for {challenge.identifier}")
        with self._session.calling(
            "answer-challenge", secrets=(challenge.key_authorization, challenge.token)
        ):
            # The payload is the empty object; the library type serializes to exactly {}.
            response = lib_challenges.HTTP01Response(key_authorization=challenge.key_authorization)
            self._session.post(challenge.url, response)

    def wait_for_authorizations(
        self,
        order: messages.Order,
        *,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> messages.Order:
        """Poll the order's authorizations until all are valid; return the order then.

        `deadline` is a point on the `now` clock. A failed validation raises `AcmeError`
        with the challenge's problem type and detail (RFC 8555 section 7.1.3 and 8.3),
        token and key authorization cut out. Reaching the deadline raises `AcmeTimeout`.
        """
        self._session.authenticated()
        remaining = list(order.authorizations)
        attempt = 0
        while True:
            remaining, retry_after = self._still_pending(remaining)
            if not remaining:
                return self.get_order(order.url)
            network.pause(
                ari.poll_delay(retry_after, attempt),
                deadline=deadline,
                sleep=sleep,
                now=now,
                waiting_for=f"{len(remaining)} authorization(s) still pending",
            )
            attempt += 1

    def _still_pending(self, authz_urls: Sequence[str]) -> tuple[list[str], float | None]:
        """One round of polling: the authorizations still pending, and the longest
        Retry-After among them; a failed one raises (see `wait_for_authorizations`)."""
        pending: list[str] = []
        waits: list[float] = []
        for authz_url in authz_urls:
            with self._session.calling("poll-authz"):
                authz = network.json_object(self._session.post(authz_url, None))
                retry_after = self._net.retry_after_seconds()
            status = authz.get("status")
            if status == "pending":
                pending.append(authz_url)
                waits += [retry_after] if retry_after is not None else []
            elif status != "valid":
                raise authorization_failure(authz, self._thumbprint)
        return pending, max(waits) if waits else None

    def finalize(
        self,
        order: messages.Order,
        csr_pem: bytes,
        *,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> messages.Order:
        """Send the CSR and poll until the certificate is issued (RFC 8555 section 7.4).

        Resumable: an order already processing or valid is polled, not finalized again.
        Returns the valid order, whose `certificate_url` `download_chain` fetches.
        """
        self._session.authenticated()
        # The caller's copy may predate the last validation.
        current = self.get_order(order.url) if order.status == "pending" else order
        if current.status == "pending":
            raise AcmeError(None, "the order has pending authorizations: cannot finalize yet")
        retry_after: float | None = None
        if current.status == "ready":
            current, retry_after = self._send_csr(current, csr_pem)
        attempt = 0
        while True:
            if current.status == "valid" and current.certificate_url:
                return current
            if current.status == "invalid":
                problem = current.error or messages.Problem(None, "no reason given")
                raise AcmeError(problem.type, f"the CA refused to issue: {redact(problem.detail)}")
            network.pause(
                ari.poll_delay(retry_after, attempt),
                deadline=deadline,
                sleep=sleep,
                now=now,
                waiting_for=f"the order is still {current.status}",
            )
            attempt += 1
            with self._session.calling("poll-order"):
                current, retry_after = self._fetch_order(order.url)

    def _send_csr(
        self, order: messages.Order, csr_pem: bytes
    ) -> tuple[messages.Order, float | None]:
        # RFC 8555 section 7.4: the CA answers with the order, and a Retry-After while
        # it is processing.
        csr = lib_messages.CertificateRequest(csr=x509.load_pem_x509_csr(csr_pem))
        with self._session.calling("finalize"):
            response = self._session.post(order.finalize_url, csr)
            retry_after = self._net.retry_after_seconds()
            return messages.parse_order(order.url, network.json_object(response)), retry_after

    def download_chain(self, order: messages.Order, *, preferred_chain: str | None = None) -> str:
        """The issued certificate as a PEM chain, leaf first, intermediates after it.

        With `preferred_chain` (an issuer common name, as certbot's --preferred-chain), the
        default chain and the alternates the CA links to (RFC 8555 section 7.4.2) are
        compared and the matching one returned; the default when none matches.
        """
        if not order.certificate_url:
            raise AcmeError(None, "the order has no certificate yet")
        self._session.authenticated()
        with self._session.calling("download-cert"):
            response = self._session.post(order.certificate_url, None)
            chains = [messages.normalize_chain(response.text)]
        if preferred_chain is not None:
            for url in network.alternate_links(response):
                with self._session.calling("download-alternate"):
                    chains.append(messages.normalize_chain(self._session.post(url, None).text))
        return messages.select_chain(chains, preferred_chain)

    # -- renewal information (RFC 9773) --------------------------------------------------

    def renewal_info(self, cert_pem: bytes) -> ari.RenewalInfo | None:
        """The CA's suggested renewal window for a certificate; None when it has no ARI.

        Unlike the library's `ClientV2.renewal_time`, this returns the window itself, so
        the renewal logic can keep one random point in it while the window does not move.
        Call it only for unexpired certificates (RFC 9773 section 4.3).
        """
        client = self._session.directory()
        if not self._session.offers("renewalInfo"):
            return None
        url = ari.renewal_info_url(str(client.directory["renewalInfo"]), cert_pem)
        with self._session.calling("renewal-info"):
            # RFC 9773 section 4.2: a plain, unauthenticated GET.
            response = self._net.get(url)
            retry_after = self._net.retry_after_seconds()
            body = network.json_object(response)
        return ari.parse_renewal_info(body, retry_after)

    # -- plumbing ------------------------------------------------------------------------

    def _fetch_order(self, url: str) -> tuple[messages.Order, float | None]:
        response = self._session.post(url, None)
        order = messages.parse_order(url, network.json_object(response))
        return order, self._net.retry_after_seconds()
