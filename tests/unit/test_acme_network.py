"""The ACME network's account key handling: the JWS algorithm follows the key.

The network's requests are tested against a fake CA in test_acme_accounts.py and against
a real Pebble in tests/integration/test_acme_client.py.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from josepy.jwa import ES256, ES384, ES512, RS256

from webhook_cert_operator.acme.network import jws_algorithm_for


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ec.generate_private_key(ec.SECP256R1()), ES256, id="p256-es256"),
        pytest.param(ec.generate_private_key(ec.SECP384R1()), ES384, id="p384-es384"),
        pytest.param(ec.generate_private_key(ec.SECP521R1()), ES512, id="p521-es512"),
        pytest.param(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), RS256, id="rsa-rs256"
        ),
    ],
)
def test_the_jws_algorithm_follows_the_account_key(key: object, expected: object) -> None:
    assert jws_algorithm_for(key) is expected


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate(), id="ed25519"),
        pytest.param(ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
    ],
)
def test_an_account_key_acme_cannot_sign_with_is_refused(key: object) -> None:
    with pytest.raises(ValueError, match="unsupported account key"):
        jws_algorithm_for(key)
