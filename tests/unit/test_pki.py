"""Unit tests for webhook_cert_operator.certificates.pki: keys, CSRs, PEM chains, renewal times."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from webhook_cert_operator.certificates import pki

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Generating RSA keys is slow; the tests share one key per kind.
_KEYS: dict[tuple[str, int], pki.PrivateKey] = {}


def key_of(algorithm: str, size: int) -> pki.PrivateKey:
    if (algorithm, size) not in _KEYS:
        _KEYS[algorithm, size] = pki.generate_private_key(algorithm, size)
    return _KEYS[algorithm, size]


def issue(
    key: pki.PrivateKey,
    dns_names: list[str],
    *,
    serial: int = 0x0123_4567_89AB,
    not_before: datetime = T0,
    lifetime: timedelta = timedelta(days=90),
    issuer_cn: str = "Test Intermediate",
) -> x509.Certificate:
    """A certificate for `key`, signed by a throwaway issuer key (a fake CA)."""
    issuer_key = key_of("ECDSA", 384)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


# --- keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "size", "expected_type", "expected_size"),
    [
        pytest.param("ECDSA", 256, ec.EllipticCurvePrivateKey, 256, id="ecdsa-256-is-p256"),
        pytest.param("ECDSA", 384, ec.EllipticCurvePrivateKey, 384, id="ecdsa-384-is-p384"),
        pytest.param("ecdsa", 256, ec.EllipticCurvePrivateKey, 256, id="algorithm-any-case"),
        pytest.param("RSA", 2048, rsa.RSAPrivateKey, 2048, id="rsa-2048"),
        pytest.param("RSA", 3072, rsa.RSAPrivateKey, 3072, id="rsa-3072"),
    ],
)
def test_generate_private_key_makes_the_requested_kind(
    algorithm: str, size: int, expected_type: type, expected_size: int
) -> None:
    key = pki.generate_private_key(algorithm, size)
    assert isinstance(key, expected_type)
    assert pki.key_algorithm_and_size(key) == (algorithm.upper(), expected_size)


def test_ecdsa_keys_use_the_nist_curves() -> None:
    p256 = pki.generate_private_key("ECDSA", 256)
    p384 = pki.generate_private_key("ECDSA", 384)
    assert isinstance(p256, ec.EllipticCurvePrivateKey)
    assert isinstance(p384, ec.EllipticCurvePrivateKey)
    assert p256.curve.name == "secp256r1"
    assert p384.curve.name == "secp384r1"


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        pytest.param("ECDSA", 521, id="ecdsa-521"),
        pytest.param("ECDSA", 2048, id="ecdsa-with-rsa-size"),
        pytest.param("RSA", 1024, id="rsa-1024-too-weak"),
        pytest.param("RSA", 256, id="rsa-with-ecdsa-size"),
        pytest.param("Ed25519", 256, id="ed25519"),
        pytest.param("", 256, id="empty-algorithm"),
    ],
)
def test_generate_private_key_refuses_unsupported_kinds(algorithm: str, size: int) -> None:
    with pytest.raises(pki.UnsupportedKey):
        pki.generate_private_key(algorithm, size)


def test_unsupported_key_is_a_domain_error_not_a_key_error() -> None:
    with pytest.raises(pki.PkiError) as caught:
        pki.generate_private_key("DSA", 2048)
    assert not isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [pytest.param("ECDSA", 256, id="ecdsa"), pytest.param("RSA", 2048, id="rsa")],
)
def test_private_key_pem_is_unencrypted_pkcs8_and_loads_back(algorithm: str, size: int) -> None:
    key = key_of(algorithm, size)
    pem = pki.private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = pki.load_private_key(pem)
    assert pki.private_key_to_pem(loaded) == pem


def test_load_private_key_accepts_traditional_formats() -> None:
    key = key_of("RSA", 2048)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert pki.private_key_to_pem(pki.load_private_key(pkcs1)) == pki.private_key_to_pem(key)


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a key", id="garbage"),
        pytest.param(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="corrupt-body"
        ),
    ],
)
def test_load_private_key_refuses_what_is_no_key(pem: bytes) -> None:
    with pytest.raises(pki.PemError):
        pki.load_private_key(pem)


def test_load_private_key_refuses_encrypted_keys_without_quoting_them() -> None:
    encrypted = key_of("ECDSA", 256).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(pki.PemError) as caught:
        pki.load_private_key(encrypted)
    assert "BEGIN" not in str(caught.value)


def test_load_private_key_refuses_key_types_the_operator_does_not_issue_for() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(pki.UnsupportedKey):
        pki.load_private_key(pem)


def test_account_key_is_a_p256_pkcs8_pem() -> None:
    pem = pki.generate_account_key()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = pki.load_private_key(pem)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_account_keys_are_fresh_each_time() -> None:
    assert pki.generate_account_key() != pki.generate_account_key()


# --- CSR --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["hooks.example.com"], ["hooks.example.com"], id="one-name"),
        pytest.param(
            ["a.example.com", "b.example.com"], ["a.example.com", "b.example.com"], id="two"
        ),
        pytest.param(
            ["b.example.com", "a.example.com", "b.example.com"],
            ["b.example.com", "a.example.com"],
            id="duplicates-dropped-order-kept",
        ),
        pytest.param(
            ["x" * 63 + ".example.com"], ["x" * 63 + ".example.com"], id="name-longer-than-a-cn"
        ),
    ],
)
def test_csr_asks_for_every_name_as_a_san_and_has_no_common_name(
    names: list[str], expected: list[str]
) -> None:
    key = key_of("ECDSA", 256)
    csr = x509.load_pem_x509_csr(pki.build_csr(key, names))
    san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(san, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == expected
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert csr.is_signature_valid


def test_csr_carries_the_given_keys_public_half() -> None:
    key = key_of("RSA", 2048)
    csr = x509.load_pem_x509_csr(pki.build_csr(key, ["hooks.example.com"]))
    assert csr.public_key() == key.public_key()


def test_csr_needs_at_least_one_name() -> None:
    with pytest.raises(pki.CsrError):
        pki.build_csr(key_of("ECDSA", 256), [])


# --- PEM chains -------------------------------------------------------------------------


def test_split_pem_chain_keeps_the_order_of_the_bundle() -> None:
    leaf = issue(key_of("ECDSA", 256), ["hooks.example.com"], serial=1)
    intermediate = issue(key_of("ECDSA", 384), [], serial=2)
    pem = pki.chain_to_pem([leaf, intermediate])
    assert pki.split_pem_chain(pem) == [leaf, intermediate]


def test_chain_to_pem_is_concatenated_certificate_blocks() -> None:
    leaf = issue(key_of("ECDSA", 256), ["hooks.example.com"])
    pem = pki.chain_to_pem([leaf, leaf])
    assert pem.count(b"-----BEGIN CERTIFICATE-----") == 2
    assert pem.endswith(b"-----END CERTIFICATE-----\n")


def test_split_pem_chain_ignores_text_between_blocks() -> None:
    leaf = issue(key_of("ECDSA", 256), ["hooks.example.com"])
    pem = b"subject=...\n" + pki.chain_to_pem([leaf]) + b"\n# trailing comment\n"
    assert pki.split_pem_chain(pem) == [leaf]


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \n", id="whitespace"),
        pytest.param(b"garbage", id="garbage"),
        pytest.param(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", id="corrupt"
        ),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nMIIB\n", id="truncated"),
    ],
)
def test_split_pem_chain_refuses_data_without_a_certificate(pem: bytes) -> None:
    with pytest.raises(pki.PemError):
        pki.split_pem_chain(pem)


def test_split_pem_chain_refuses_a_key_alone() -> None:
    with pytest.raises(pki.PemError):
        pki.split_pem_chain(pki.private_key_to_pem(key_of("ECDSA", 256)))


def test_chain_to_pem_refuses_an_empty_chain() -> None:
    with pytest.raises(pki.PemError):
        pki.chain_to_pem([])


# --- describing certificates ------------------------------------------------------------


def test_describe_certificate_reports_what_status_shows() -> None:
    cert = issue(
        key_of("ECDSA", 256),
        ["hooks.example.com", "www.example.com"],
        serial=0x0ABC_DEF0,
        lifetime=timedelta(days=90),
    )
    info = pki.describe_certificate(cert)
    assert info.serial_number == "0ABCDEF0"
    assert info.not_before == T0
    assert info.not_after == T0 + timedelta(days=90)
    assert info.not_before.tzinfo is not None
    assert info.issuer == "CN=Test Intermediate"
    assert info.subject == ""
    assert info.dns_names == ("hooks.example.com", "www.example.com")
    der = cert.public_bytes(serialization.Encoding.DER)
    assert info.sha256_fingerprint == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        pytest.param(1, "01", id="padded-to-a-byte"),
        pytest.param(0xABC, "0ABC", id="padded-to-whole-bytes"),
        pytest.param(0xFA_0000_0000_0000_0000_0000_0000_0000_0000, "FA" + "00" * 16, id="long"),
    ],
)
def test_serial_number_is_uppercase_hex_in_whole_bytes(serial: int, expected: str) -> None:
    cert = issue(key_of("ECDSA", 256), ["hooks.example.com"], serial=serial)
    assert pki.describe_certificate(cert).serial_number == expected


def test_describe_certificate_without_sans_has_no_names() -> None:
    cert = issue(key_of("ECDSA", 256), [])
    assert pki.describe_certificate(cert).dns_names == ()


def test_certificate_info_is_frozen() -> None:
    info = pki.describe_certificate(issue(key_of("ECDSA", 256), ["a.example.com"]))
    with pytest.raises(AttributeError):
        info.serial_number = "00"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key_kind", "cert_key_kind", "matches"),
    [
        pytest.param(("ECDSA", 256), ("ECDSA", 256), True, id="same-ecdsa-key"),
        pytest.param(("RSA", 2048), ("RSA", 2048), True, id="same-rsa-key"),
        pytest.param(("ECDSA", 256), ("ECDSA", 384), False, id="other-ecdsa-key"),
        pytest.param(("RSA", 2048), ("ECDSA", 256), False, id="rsa-key-ecdsa-cert"),
    ],
)
def test_key_matches_certificate_compares_public_keys(
    key_kind: tuple[str, int], cert_key_kind: tuple[str, int], matches: bool
) -> None:
    cert = issue(key_of(*cert_key_kind), ["hooks.example.com"])
    assert pki.key_matches_certificate(key_of(*key_kind), cert) is matches


def test_a_fresh_key_of_the_same_kind_does_not_match() -> None:
    cert = issue(key_of("ECDSA", 256), ["hooks.example.com"])
    assert not pki.key_matches_certificate(pki.generate_private_key("ECDSA", 256), cert)


# --- renewal times ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "renew_at"),
    [
        pytest.param(timedelta(days=90), T0 + timedelta(days=60), id="90-days-renews-on-day-60"),
        pytest.param(timedelta(days=45), T0 + timedelta(days=30), id="45-days-renews-on-day-30"),
        pytest.param(
            timedelta(days=10), T0 + timedelta(days=10) * 2 / 3, id="10-days-is-not-short"
        ),
        pytest.param(timedelta(days=6), T0 + timedelta(days=3), id="6-days-renews-at-half"),
        pytest.param(timedelta(hours=1), T0 + timedelta(minutes=30), id="1-hour-renews-at-half"),
    ],
)
def test_default_renewal_time_leaves_a_third_or_half_of_the_lifetime(
    lifetime: timedelta, renew_at: datetime
) -> None:
    assert pki.default_renewal_time(T0, T0 + lifetime) == renew_at.replace(microsecond=0)


def test_default_renewal_time_is_whole_seconds() -> None:
    # 90 days minus a second, as Let's Encrypt issues them: a third is not whole seconds.
    renew_at = pki.default_renewal_time(T0, T0 + timedelta(days=90, seconds=-1))
    assert renew_at.microsecond == 0
    assert renew_at <= T0 + timedelta(days=90, seconds=-1) - (timedelta(days=90, seconds=-1) / 3)


def test_default_renewal_time_accepts_inputs_in_any_time_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    renew_at = pki.default_renewal_time(T0.astimezone(plus_two), (T0 + timedelta(days=90)))
    assert renew_at == T0 + timedelta(days=60)


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        pytest.param(T0, T0, id="zero-lifetime"),
        pytest.param(T0 + timedelta(days=1), T0, id="negative-lifetime"),
    ],
)
def test_default_renewal_time_refuses_an_empty_validity(
    not_before: datetime, not_after: datetime
) -> None:
    with pytest.raises(pki.PkiError):
        pki.default_renewal_time(not_before, not_after)


def test_renewal_arithmetic_refuses_naive_datetimes() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.default_renewal_time(naive, naive + timedelta(days=90))
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.renewal_time_with_renew_before(naive, timedelta(days=30))


def test_renew_before_counts_back_from_not_after() -> None:
    not_after = T0 + timedelta(days=90)
    assert pki.renewal_time_with_renew_before(not_after, timedelta(days=30)) == T0 + timedelta(
        days=60
    )


def test_renew_before_inside_the_lifetime_is_used_as_given() -> None:
    renew_at = pki.renewal_time_with_renew_before(
        T0 + timedelta(days=90), timedelta(days=5), not_before=T0
    )
    assert renew_at == T0 + timedelta(days=85)


@pytest.mark.parametrize(
    "renew_before",
    [
        pytest.param(timedelta(days=90), id="equal-to-the-lifetime"),
        pytest.param(timedelta(days=120), id="longer-than-the-lifetime"),
    ],
)
def test_renew_before_longer_than_the_lifetime_falls_back_to_the_default(
    renew_before: timedelta,
) -> None:
    renew_at = pki.renewal_time_with_renew_before(
        T0 + timedelta(days=90), renew_before, not_before=T0
    )
    assert renew_at == T0 + timedelta(days=60)


@pytest.mark.parametrize(
    "renew_before",
    [pytest.param(timedelta(0), id="zero"), pytest.param(timedelta(days=-1), id="negative")],
)
def test_renew_before_must_be_positive(renew_before: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        pki.renewal_time_with_renew_before(T0, renew_before)


# --- does a Secret still fit the spec? --------------------------------------------------

NAMES = ["hooks.example.com", "www.example.com"]


def test_a_certificate_that_fits_the_spec_needs_no_reissue() -> None:
    key = key_of("ECDSA", 256)
    cert = issue(key, NAMES)
    assert pki.certificate_needs_reissue(cert, key, NAMES, "ECDSA", 256) is None


def test_names_compare_case_insensitively_and_in_any_order() -> None:
    key = key_of("ECDSA", 256)
    cert = issue(key, ["www.example.com", "hooks.example.com"])
    wanted = ["Hooks.Example.com", "www.example.com", "hooks.example.com"]
    assert pki.certificate_needs_reissue(cert, key, wanted, "ecdsa", 256) is None


@pytest.mark.parametrize(
    ("cert_names", "cert_key", "spec_names", "spec_key", "reason"),
    [
        pytest.param(
            ["www.example.com"],
            ("ECDSA", 256),
            NAMES,
            ("ECDSA", 256),
            "the certificate does not cover hooks.example.com",
            id="a-name-is-missing",
        ),
        pytest.param(
            [*NAMES, "old.example.com"],
            ("ECDSA", 256),
            NAMES,
            ("ECDSA", 256),
            "the certificate also covers old.example.com, which the spec no longer lists",
            id="a-name-was-removed",
        ),
        pytest.param(
            NAMES,
            ("RSA", 2048),
            NAMES,
            ("ECDSA", 256),
            "the private key does not match the certificate",
            id="the-key-is-not-the-certificates",
        ),
        pytest.param(
            ["www.example.com"],
            ("RSA", 2048),
            NAMES,
            ("ECDSA", 256),
            "the certificate does not cover hooks.example.com",
            id="names-are-reported-before-the-key",
        ),
    ],
)
def test_certificate_needs_reissue_explains_why(
    cert_names: list[str],
    cert_key: tuple[str, int],
    spec_names: list[str],
    spec_key: tuple[str, int],
    reason: str,
) -> None:
    cert = issue(key_of(*cert_key), cert_names)
    key = key_of(*spec_key)
    assert pki.certificate_needs_reissue(cert, key, spec_names, *spec_key) == reason


@pytest.mark.parametrize(
    ("have", "want", "reason"),
    [
        pytest.param(
            ("RSA", 2048),
            ("ECDSA", 256),
            "the key is RSA 2048, the spec asks for ECDSA 256",
            id="rsa-to-ecdsa",
        ),
        pytest.param(
            ("ECDSA", 256),
            ("ECDSA", 384),
            "the key is ECDSA 256, the spec asks for ECDSA 384",
            id="bigger-curve",
        ),
        pytest.param(
            ("ECDSA", 384),
            ("RSA", 2048),
            "the key is ECDSA 384, the spec asks for RSA 2048",
            id="ecdsa-to-rsa",
        ),
    ],
)
def test_certificate_needs_reissue_when_the_key_kind_changed(
    have: tuple[str, int], want: tuple[str, int], reason: str
) -> None:
    key = key_of(*have)
    cert = issue(key, NAMES)
    assert pki.certificate_needs_reissue(cert, key, NAMES, *want) == reason


def test_a_certificate_without_sans_covers_nothing() -> None:
    key = key_of("ECDSA", 256)
    cert = issue(key, [])
    reason = pki.certificate_needs_reissue(cert, key, NAMES, "ECDSA", 256)
    assert reason == "the certificate does not cover hooks.example.com"
