"""Adapter: one account key's standing with one CA: its directory, its account, its signed requests.

Adapter (I/O): over `acme.network` and the `acme` library's `ClientV2` (certbot's), it
fetches the directory once (RFC 8555 section 7.1.1), finds or registers the account once
(section 7.3), and signs each later request with that account (section 6.2), finding or
registering it again when the CA has forgotten it. `AcmeClient` builds its operations on
one `AccountSession`; threads may share it once `ensure` has returned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from acme import client as lib_client
from acme import errors as lib_errors
from acme import messages as lib_messages
from josepy.interfaces import JSONDeSerializable

from webhook_cert_operator.acme import network
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import b64url


@dataclass(frozen=True)
class _Registration:
    """What `ensure` was given, to register again with a CA that forgot the account."""

    email: str | None
    agree_tos: bool
    eab: tuple[str, bytes] | None = field(repr=False)


class AccountSession:
    """The directory and account of `net`'s key at `directory_url`, kept once known."""

    def __init__(self, net: network.Network, directory_url: str) -> None:
        self._net = net
        self._directory_url = directory_url
        self._lock = threading.RLock()
        self._client: lib_client.ClientV2 | None = None
        self._account_url: str | None = None
        self._registration: _Registration | None = None
        self._disowned = False

    @property
    def disowned(self) -> bool:
        """True once the CA answered that it does not know the account (RFC 8555 section
        6.7 `accountDoesNotExist`) even after it was found or registered again."""
        return self._disowned

    @contextmanager
    def calling(self, kind: str, *, secrets: Sequence[str] = ()) -> Iterator[None]:
        """`Network.calling`: requests labelled `kind`, errors as `AcmeError`."""
        try:
            with self._net.calling(kind, secrets=secrets):
                yield
        except AcmeError as error:
            if error.code == "accountDoesNotExist":
                self._disowned = True
            raise

    def directory(self) -> lib_client.ClientV2:
        """The library client over the CA's directory, fetched on first use."""
        with self._lock:
            if self._client is None:
                with self.calling("directory"):
                    directory = lib_client.ClientV2.get_directory(self._directory_url, self._net)
                self._client = lib_client.ClientV2(directory, self._net)
            return self._client

    def offers(self, name: str) -> bool:
        """Whether the directory has the resource `name` (e.g. "renewalInfo")."""
        try:
            return bool(self.directory().directory[name])
        except KeyError:
            return False

    def authenticated(self) -> lib_client.ClientV2:
        """`directory()`, once `ensure` has succeeded; `RuntimeError` before."""
        if self._account_url is None:
            raise RuntimeError("ensure_account() must succeed before other ACME requests")
        return self.directory()

    def ensure(
        self, email: str | None, *, agree_tos: bool, eab: tuple[str, bytes] | None = None
    ) -> str:
        """The account URL of the key, found or registered on the first call (see
        `AcmeClient.ensure_account`); later calls send nothing."""
        with self._lock:
            if self._account_url is not None:
                return self._account_url
            self._registration = _Registration(email, agree_tos, eab)
            client = self.directory()
            with self.calling("find-account"):
                url = _find_account(self._net, client)
            if url is None:
                with self.calling("new-account"):
                    url = _register(self._net, client, email, agree_tos=agree_tos, eab=eab)
            self._net.account = lib_messages.RegistrationResource(
                body=lib_messages.Registration(), uri=url
            )
            self._account_url = url
            return url

    def post(self, url: str, obj: JSONDeSerializable | None) -> requests.Response:
        """Send a request signed by the account; obj None is POST-as-GET (RFC 8555 6.3).

        When the CA answers that it no longer knows the account (RFC 8555 section 6.7
        accountDoesNotExist: a CA that was reset forgets every account), the account is
        found or registered again, as a client built for this call would have done, and
        the request sent once more.
        """
        nonce_url = str(self.authenticated().directory["newNonce"])
        account_url = self._account_url
        try:
            return self._net.post(url, obj, new_nonce_url=nonce_url)
        except lib_messages.Error as error:
            if error.code != "accountDoesNotExist" or self._registration is None:
                raise
        with self._lock:
            if self._account_url == account_url:  # no other thread has done it yet
                # Looking an account up is signed with the key itself, not an account
                # (RFC 8555 section 6.2), so the forgotten one must go first.
                self._account_url = None
                self._net.account = None
                again = self._registration
                self.ensure(again.email, agree_tos=again.agree_tos, eab=again.eab)
        return self._net.post(url, obj, new_nonce_url=nonce_url)


def _find_account(net: network.Network, client: lib_client.ClientV2) -> str | None:
    # RFC 8555 section 7.3.1: onlyReturnExisting looks the key up without creating it.
    query = lib_messages.NewRegistration(only_return_existing=True)
    try:
        response = net.post(
            client.directory["newAccount"],
            query,
            new_nonce_url=str(client.directory["newNonce"]),
        )
    except lib_messages.Error as error:
        if error.code == "accountDoesNotExist":
            return None
        raise
    location = response.headers.get("Location")
    if not location:
        raise AcmeError(None, "the CA found the account but sent no account URL")
    return str(location)


def _check_allowed(
    client: lib_client.ClientV2, *, agree_tos: bool, eab: tuple[str, bytes] | None
) -> None:
    if eab is None and client.external_account_required():
        raise AcmeError(
            None,
            "the ACME server requires External Account Binding: configure the key ID "
            "and HMAC key it issued for this account",
        )
    terms = client.directory.meta.terms_of_service
    if terms and not agree_tos:
        raise AcmeError(
            None,
            f"the ACME server requires agreeing to its terms of service ({terms}); "
            "registration needs that agreement to be configured explicitly",
        )


def _register(
    net: network.Network,
    client: lib_client.ClientV2,
    email: str | None,
    *,
    agree_tos: bool,
    eab: tuple[str, bytes] | None,
) -> str:
    # RFC 8555 section 7.3 (and 7.3.4 for the binding); nothing is sent when the CA
    # requires a binding that is missing or terms that `agree_tos` does not agree to.
    _check_allowed(client, agree_tos=agree_tos, eab=eab)
    binding = None
    if eab is not None:
        kid, hmac_key = eab
        binding = lib_messages.ExternalAccountBinding.from_data(
            account_public_key=net.jwk.public_key(),
            kid=kid,
            hmac_key=b64url(hmac_key),
            directory=client.directory,
        )
    registration = lib_messages.NewRegistration.from_data(
        email=email,
        terms_of_service_agreed=True if agree_tos else None,
        external_account_binding=binding,
    )
    try:
        account = client.new_account(registration)
    except lib_errors.ConflictError as existing:
        # Someone registered the same key meanwhile (another replica): same account.
        return str(existing.location)
    if not account.uri:
        raise AcmeError(None, "the CA created the account but sent no account URL")
    return str(account.uri)
