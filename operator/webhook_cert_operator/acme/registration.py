"""Finding and registering an ACME account (RFC 8555 section 7.3).

Adapter (I/O): the requests go through the `acme` library's `ClientV2` over
`acme.network`. `AcmeClient.ensure_account` calls these once per client, inside its
error translation, so library errors leave as `AcmeError`.
"""

from __future__ import annotations

from acme import client as lib_client
from acme import errors as lib_errors
from acme import messages as lib_messages

from webhook_cert_operator.acme import network
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import b64url


def find_account(net: network.Network, client: lib_client.ClientV2) -> str | None:
    """The URL of the account of `net`'s key, None when the CA does not know the key.

    RFC 8555 section 7.3.1: onlyReturnExisting looks the key up without creating it.
    """
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


def register(
    net: network.Network,
    client: lib_client.ClientV2,
    email: str | None,
    *,
    agree_tos: bool,
    eab: tuple[str, bytes] | None,
) -> str:
    """Register `net`'s key as a new account and return its URL (RFC 8555 section 7.3).

    `eab` is (key ID, raw HMAC key bytes) for External Account Binding (section 7.3.4).
    Raises `AcmeError` before sending anything when the CA requires a binding that is
    missing or terms of service that `agree_tos` does not agree to.
    """
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
