"""The corpus: served chains that strict webhook senders accept or refuse.

Each scenario builds a fresh private PKI (keys are generated anew on every run, so
nothing secret is stored) and says how a local server serves it: the certificates in
order, the key, the TLS versions, whether it asks for a client certificate. Scenarios
are grouped by the fault classes of issue 10 ("class 1" ... "class 8") and the cases
the check has always covered ("baseline").

`DELIBERATE` lists where the check knowingly differs from a client, with the reason;
docs/conformance.md repeats it for users.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.x509.oid import ExtendedKeyUsageOID
from tests import pki_factory as pki

HOST = "hooks.example.test"
UNKNOWN_CRITICAL = x509.UnrecognizedExtension(
    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"
)


@dataclass(frozen=True)
class Setup:
    """What one scenario's server serves and what its clients trust."""

    served: Sequence[x509.Certificate]
    key: pki.PrivateKey
    roots: Sequence[x509.Certificate]
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None
    client_certificate: ssl.VerifyMode = ssl.CERT_NONE
    #: An OpenSSL cipher string for the server (TLS 1.2 suites), None for its default.
    ciphers: str | None = None
    #: The server's only key exchange group (Python's `set_ecdh_curve`), None for defaults.
    group: str | None = None
    #: The URL's host as a user writes it (maybe a U-label); clients get its A-label.
    host: str = HOST


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    build: Callable[[], Setup] = field(repr=False)


SCENARIOS: list[Scenario] = []


def scenario(name: str, group: str) -> Callable[[Callable[[], Setup]], Callable[[], Setup]]:
    def register(build: Callable[[], Setup]) -> Callable[[], Setup]:
        SCENARIOS.append(Scenario(name, group, build))
        return build

    return register


# --- helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    root: pki.Issued
    cas: tuple[pki.Issued, ...]  # the one below the root first

    def serve(self, leaf: pki.Issued, *extra: x509.Certificate) -> Setup:
        """`leaf` followed by every intermediate, nearest first, then `extra`."""
        chain = [leaf.cert, *(c.cert for c in reversed(self.cas)), *extra]
        return Setup(chain, leaf.key, (self.root.cert,))


def hierarchy(
    prefix: str = "Test",
    depth: int = 1,
    *,
    root: pki.Issued | None = None,
    key: Callable[[], pki.PrivateKey] = pki.new_key,
    **ca_options: object,
) -> PKI:
    root = root or pki.issue(None, f"{prefix} Root CA", key=key(), **ca_options)  # type: ignore[arg-type]
    cas: list[pki.Issued] = []
    issuer = root
    for level in range(1, depth + 1):
        issuer = pki.issue(issuer, f"{prefix} Intermediate CA {level}", key=key(), **ca_options)  # type: ignore[arg-type]
        cas.append(issuer)
    return PKI(root, tuple(cas))


def leaf(issuer: pki.Issued, names: Sequence[str] = (HOST,), /, **options: object) -> pki.Issued:
    names = options.pop("dns_names", names)  # type: ignore[assignment]
    return pki.issue_leaf(issuer, list(names), **options)


def standard(**leaf_options: object) -> Setup:
    p = hierarchy(depth=2)
    return p.serve(leaf(p.cas[-1], **leaf_options))


def under_ca(**ca_options: object) -> Setup:
    """A leaf under one intermediate made with `ca_options`."""
    p = hierarchy()
    ca = pki.issue(p.root, "Odd Intermediate CA", **ca_options)  # type: ignore[arg-type]
    return _under(ca, p.root)


def _under(
    ca: pki.Issued, root: pki.Issued, *more: x509.Certificate, **leaf_options: object
) -> Setup:
    issued = leaf(ca, **leaf_options)
    return Setup((issued.cert, ca.cert, *more), issued.key, (root.cert,))


TLS12 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)


def tls12(setup: Setup, **server: object) -> Setup:
    """The same chain from a TLS 1.2-only server (with other `Setup` server options)."""
    return dataclasses.replace(setup, versions=TLS12, **server)  # type: ignore[arg-type]


def rsa(bits: int = 2048) -> Callable[[], pki.PrivateKey]:
    return lambda: pki.rsa_key(bits)


# --- baseline: the cases the check always covered -------------------------------------


@scenario("full chain, two intermediates", "baseline")
def _full() -> Setup:
    return standard()


@scenario("leaf only", "baseline")
def _leaf_only() -> Setup:
    p = hierarchy(depth=2)
    issued = leaf(p.cas[-1])
    return Setup((issued.cert,), issued.key, (p.root.cert,))


@scenario("upper intermediate missing", "baseline")
def _missing_upper() -> Setup:
    p = hierarchy(depth=2)
    issued = leaf(p.cas[-1])
    return Setup((issued.cert, p.cas[-1].cert), issued.key, (p.root.cert,))


@scenario("intermediates in reverse order", "baseline")
def _reverse() -> Setup:
    p = hierarchy(depth=2)
    issued = leaf(p.cas[-1])
    return Setup((issued.cert, p.cas[0].cert, p.cas[1].cert), issued.key, (p.root.cert,))


@scenario("root served too", "baseline")
def _root_included() -> Setup:
    p = hierarchy(depth=2)
    return p.serve(leaf(p.cas[-1]), p.root.cert)


@scenario("unrelated extra certificate", "baseline")
def _unrelated() -> Setup:
    p = hierarchy(depth=1)
    other = hierarchy("Other", depth=1)
    return p.serve(leaf(p.cas[-1]), other.cas[0].cert)


@scenario("intermediate served twice", "baseline")
def _twice() -> Setup:
    p = hierarchy(depth=1)
    return p.serve(leaf(p.cas[-1]), p.cas[0].cert)


@scenario("expired leaf", "baseline")
def _expired_leaf() -> Setup:
    return standard(validity=pki.EXPIRED)


@scenario("leaf not yet valid", "baseline")
def _future_leaf() -> Setup:
    return standard(validity=pki.NOT_YET_VALID)


@scenario("expired intermediate", "baseline")
def _expired_ca() -> Setup:
    return under_ca(validity=pki.EXPIRED)


@scenario("leaf for another host", "baseline")
def _wrong_host() -> Setup:
    return standard(dns_names=["other.example.test"])


@scenario("leaf without subjectAltName (CN only)", "baseline")
def _cn_only() -> Setup:
    p = hierarchy()
    issued = pki.issue(
        p.cas[0],
        HOST,
        ca=False,
        key_usage=pki.LEAF_KEY_USAGE,
        extended_key_usage=pki.SERVER_AUTH,
        validity=pki.CURRENT,
        organization=None,
    )
    return p.serve(issued)


@scenario("wildcard leaf, one label", "baseline")
def _wildcard() -> Setup:
    return standard(dns_names=["*.example.test"])


@scenario("wildcard leaf, two labels", "baseline")
def _wildcard_deep() -> Setup:
    return standard(dns_names=["*.test"])


@scenario("self-signed leaf", "baseline")
def _self_signed() -> Setup:
    trusted = hierarchy()
    issued = pki.issue(
        None,
        HOST,
        ca=False,
        key_usage=pki.LEAF_KEY_USAGE,
        extended_key_usage=pki.SERVER_AUTH,
        dns_names=[HOST],
        validity=pki.CURRENT,
    )
    return Setup((issued.cert,), issued.key, (trusted.root.cert,))


@scenario("untrusted private root served", "baseline")
def _private_root() -> Setup:
    p = hierarchy("Private")
    trusted = hierarchy()
    setup = p.serve(leaf(p.cas[-1]), p.root.cert)
    return Setup(setup.served, setup.key, (trusted.root.cert,))


@scenario("TLS 1.0 only", "baseline")
def _tls10() -> Setup:
    setup = standard()
    return Setup(
        setup.served, setup.key, setup.roots, versions=(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1)
    )


@scenario("TLS 1.2 only", "baseline")
def _tls12() -> Setup:
    setup = standard()
    return tls12(setup)


@scenario("leaf for clientAuth only", "baseline")
def _client_auth_leaf() -> Setup:
    return standard(extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])


@scenario("leaf issued by a leaf", "baseline")
def _impostor() -> Setup:
    p = hierarchy()
    impostor = leaf(p.cas[0], ["impostor.example.test"])
    return _under(impostor, p.root, p.cas[0].cert)


@scenario("leaf expiring in 5 days", "baseline")
def _expiring() -> Setup:
    return standard(validity=pki.expiring_in(5 * pki.DAY))


@scenario("intermediate trusted directly (partial chain)", "baseline")
def _partial() -> Setup:
    p = hierarchy(depth=1)
    setup = p.serve(leaf(p.cas[0]))
    return Setup(setup.served, setup.key, (p.cas[0].cert,))


# --- class 1: every rule, every certificate -----------------------------------------------


@scenario("RSA-1024 leaf under RSA-2048 CAs", "class 1")
def _rsa1024_leaf() -> Setup:
    p = hierarchy(key=rsa())
    return p.serve(leaf(p.cas[0], key=pki.rsa_key(1024)))


@scenario("RSA-1024 leaf, TLS 1.2", "class 1")
def _rsa1024_leaf_tls12() -> Setup:
    setup = _rsa1024_leaf()
    return tls12(setup)


@scenario("RSA-1024 intermediate", "class 1")
def _rsa1024_ca() -> Setup:
    p = hierarchy(key=rsa())
    weak = pki.issue(p.root, "Weak Intermediate CA", key=pki.rsa_key(1024))
    return _under(weak, p.root, key=pki.rsa_key())


@scenario("RSA-1024 trusted root", "class 1")
def _rsa1024_root() -> Setup:
    p = hierarchy(key=rsa(1024), depth=0)
    ca = pki.issue(p.root, "Intermediate CA", key=pki.rsa_key())
    return _under(ca, p.root, key=pki.rsa_key())


@scenario("RSA-2048 chain", "class 1")
def _rsa2048() -> Setup:
    p = hierarchy(key=rsa())
    return p.serve(leaf(p.cas[0], key=pki.rsa_key()))


@scenario("RSA-4096 leaf", "class 1")
def _rsa4096() -> Setup:
    p = hierarchy(key=rsa())
    return p.serve(leaf(p.cas[0], key=pki.rsa_key(4096)))


@scenario("P-384 leaf", "class 1")
def _p384() -> Setup:
    return standard(key=ec.generate_private_key(ec.SECP384R1()))


@scenario("P-521 leaf", "class 1")
def _p521() -> Setup:
    return standard(key=ec.generate_private_key(ec.SECP521R1()))


@scenario("secp256k1 leaf", "class 1")
def _k1() -> Setup:
    return standard(key=ec.generate_private_key(ec.SECP256K1()))


@scenario("Ed25519 chain", "class 1")
def _ed25519() -> Setup:
    p = hierarchy(key=ed25519.Ed25519PrivateKey.generate)
    return p.serve(leaf(p.cas[0], key=ed25519.Ed25519PrivateKey.generate()))


@scenario("issuer's SKI is not the leaf's AKI", "class 1")
def _akid_mismatch() -> Setup:
    p = hierarchy(depth=0)
    ca = pki.issue(p.root, "Odd Key Id CA", subject_key_id=b"\x01" * 20)
    return _under(ca, p.root, authority_key_id=b"\x02" * 20)


@scenario("issuer without SKI", "class 1")
def _no_ski() -> Setup:
    return under_ca(subject_key_id=None)


@scenario("leaf without AKI", "class 1")
def _no_aki() -> Setup:
    return standard(authority_key_id=None)


@scenario("intermediate without basicConstraints", "class 1")
def _no_bc() -> Setup:
    return under_ca(ca=None)


@scenario("intermediate with CA:FALSE", "class 1")
def _ca_false() -> Setup:
    return under_ca(ca=False)


@scenario("intermediate keyUsage without keyCertSign", "class 1")
def _no_certsign() -> Setup:
    return under_ca(key_usage=pki.key_usage(digital_signature=True, crl_sign=True))


@scenario("pathLen 0 CA above another CA", "class 1")
def _pathlen() -> Setup:
    p = hierarchy(depth=0)
    upper = pki.issue(p.root, "Pathlen Zero CA", path_length=0)
    lower = pki.issue(upper, "Below Pathlen Zero CA")
    return _under(lower, p.root, upper.cert)


@scenario("pathLen 0 CA right above the leaf", "class 1")
def _pathlen_ok() -> Setup:
    return under_ca(path_length=0)


@scenario("leaf keyUsage without digitalSignature", "class 1")
def _leaf_ku() -> Setup:
    return standard(key_usage=pki.key_usage(key_encipherment=True))


@scenario("RSA leaf keyUsage keyEncipherment only, TLS 1.2", "class 1")
def _leaf_ku_rsa() -> Setup:
    p = hierarchy(key=rsa())
    setup = p.serve(
        leaf(p.cas[0], key=pki.rsa_key(), key_usage=pki.key_usage(key_encipherment=True))
    )
    return tls12(setup)


@scenario("leaf without keyUsage and extendedKeyUsage", "class 1")
def _leaf_no_usage() -> Setup:
    return standard(key_usage=None, extended_key_usage=None)


@scenario("intermediate limited to clientAuth", "class 1")
def _ca_client_auth() -> Setup:
    return under_ca(extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])


@scenario("intermediate limited to serverAuth", "class 1")
def _ca_server_auth() -> Setup:
    return under_ca(extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH])


@scenario("intermediate with anyExtendedKeyUsage", "class 1")
def _ca_any() -> Setup:
    return under_ca(extended_key_usage=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])


@scenario("leaf with anyExtendedKeyUsage only", "class 1")
def _leaf_any() -> Setup:
    return standard(extended_key_usage=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])


@scenario("leaf with serverAuth and clientAuth", "class 1")
def _leaf_both() -> Setup:
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return standard(extended_key_usage=usages)


@scenario("trusted root keyUsage without keyCertSign", "class 1")
def _root_no_certsign() -> Setup:
    root = pki.issue(None, "No CertSign Root CA", key_usage=pki.key_usage(crl_sign=True))
    return _under(pki.issue(root, "Intermediate CA"), root)


@scenario("trusted root with pathLen 0 above an intermediate", "class 1")
def _root_pathlen() -> Setup:
    root = pki.issue(None, "Pathlen Zero Root CA", path_length=0)
    return _under(pki.issue(root, "Intermediate CA"), root)


@scenario("trusted root limited to clientAuth", "class 1")
def _root_client_auth() -> Setup:
    p = hierarchy(depth=1, extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return p.serve(leaf(p.cas[0]))


@scenario("leaf with an unknown critical extension", "class 1")
def _critical_leaf() -> Setup:
    return standard(extra_extensions=[(UNKNOWN_CRITICAL, True)])


@scenario("intermediate with an unknown critical extension", "class 1")
def _critical_ca() -> Setup:
    return under_ca(extra_extensions=[(UNKNOWN_CRITICAL, True)])


@scenario("leaf with an unknown non-critical extension", "class 1")
def _noncritical_leaf() -> Setup:
    return standard(extra_extensions=[(UNKNOWN_CRITICAL, False)])


def _constrained(permitted: list[str], excluded: list[str]) -> Setup:
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(n) for n in permitted] or None,
        excluded_subtrees=[x509.DNSName(n) for n in excluded] or None,
    )
    return under_ca(extra_extensions=[(constraints, True)])


@scenario("CA permitted only another domain (name constraints)", "class 1")
def _nc_outside() -> Setup:
    return _constrained(["other.test"], [])


@scenario("CA permitted the host's domain (name constraints)", "class 1")
def _nc_inside() -> Setup:
    return _constrained(["example.test"], [])


@scenario("CA excluding the host's domain (name constraints)", "class 1")
def _nc_excluded() -> Setup:
    return _constrained([], ["example.test"])


@scenario("leaf marked CA:TRUE", "class 1")
def _leaf_is_ca() -> Setup:
    return standard(ca=True, key_usage=pki.key_usage(digital_signature=True, key_cert_sign=True))


@scenario("ACME-style leaf: empty subject, subjectAltName only", "class 1")
def _empty_subject() -> Setup:
    p = hierarchy()
    key = pki.new_key()
    base = pki.issue_leaf(p.cas[0], [HOST], key=key)
    empty = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(base.cert.issuer)
        .public_key(key.public_key())
        .serial_number(base.cert.serial_number)
        .not_valid_before(base.cert.not_valid_before_utc)
        .not_valid_after(base.cert.not_valid_after_utc)
    )
    for extension in base.cert.extensions:
        critical = extension.critical or isinstance(extension.value, x509.SubjectAlternativeName)
        empty = empty.add_extension(extension.value, critical)
    cert = empty.sign(p.cas[0].key, hashes.SHA256())
    return p.serve(pki.Issued(cert, key))


@scenario("expired copy of the intermediate served before the valid one", "class 1")
def _expired_copy_first() -> Setup:
    p = hierarchy(depth=0)
    ca = pki.issue(p.root, "Intermediate CA")
    expired = pki.issue(p.root, "Intermediate CA", key=ca.key, validity=pki.EXPIRED)
    issued = leaf(ca)
    return Setup((issued.cert, expired.cert, ca.cert), issued.key, (p.root.cert,))


@scenario("intermediate signed with RSASSA-PSS", "class 2")
def _pss() -> Setup:
    p = hierarchy("PSS", depth=0, key=rsa())
    ca = pki.issue(p.root, "PSS Intermediate CA", key=pki.rsa_key())
    tbs = ca.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(tbs.subject)
        .issuer_name(tbs.issuer)
        .public_key(ca.key.public_key())
        .serial_number(tbs.serial_number)
        .not_valid_before(tbs.not_valid_before_utc)
        .not_valid_after(tbs.not_valid_after_utc)
    )
    for extension in tbs.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    cert = builder.sign(p.root.key, hashes.SHA256(), rsa_padding=pss)
    return _under(pki.Issued(cert, ca.key), p.root, key=pki.rsa_key())


@scenario("intermediate not yet valid", "class 1")
def _future_ca() -> Setup:
    return under_ca(validity=pki.NOT_YET_VALID)


# --- class 2: signature algorithms --------------------------------------------------------


def _rsa_pki() -> PKI:
    return hierarchy("RSA", key=rsa())


def _legacy_leaf(digest: str) -> Setup:
    p = _rsa_pki()
    issued = leaf(p.cas[0], key=pki.rsa_key())
    resigned = pki.resign(issued.cert, p.cas[0].key, digest)  # type: ignore[arg-type]
    return p.serve(pki.Issued(resigned, issued.key))


@scenario("intermediate signed with SHA-1 by the trusted root", "class 2")
def _sha1_ca() -> Setup:
    p = _rsa_pki()
    ca = pki.Issued(pki.resign(p.cas[0].cert, p.root.key, "sha1"), p.cas[0].key)  # type: ignore[arg-type]
    return _under(ca, p.root, key=pki.rsa_key())


@scenario("leaf signed with SHA-1", "class 2")
def _sha1_leaf() -> Setup:
    return _legacy_leaf("sha1")


@scenario("leaf signed with MD5", "class 2")
def _md5_leaf() -> Setup:
    return _legacy_leaf("md5")


@scenario("leaf signed with SHA-224", "class 2")
def _sha224_leaf() -> Setup:
    return _legacy_leaf("sha224")


@scenario("trusted root self-signed with SHA-1", "class 2")
def _sha1_root() -> Setup:
    p = _rsa_pki()
    root = pki.resign(p.root.cert, p.root.key, "sha1")  # type: ignore[arg-type]
    setup = p.serve(leaf(p.cas[0], key=pki.rsa_key()))
    return Setup(setup.served, setup.key, (root,))


# --- class 3: the handshake as a sender makes it ---------------------------------------------


@scenario("TLS 1.3 server requiring a client certificate", "class 3")
def _mtls13() -> Setup:
    setup = standard()
    return Setup(setup.served, setup.key, setup.roots, client_certificate=ssl.CERT_REQUIRED)


@scenario("TLS 1.2 server requiring a client certificate", "class 3")
def _mtls12() -> Setup:
    setup = standard()
    return tls12(setup, client_certificate=ssl.CERT_REQUIRED)


@scenario("server asking for an optional client certificate", "class 3")
def _mtls_optional() -> Setup:
    setup = standard()
    return Setup(setup.served, setup.key, setup.roots, client_certificate=ssl.CERT_OPTIONAL)


@scenario("TLS 1.2 server with only a Camellia cipher suite", "class 3")
def _no_common_cipher() -> Setup:
    setup = standard()
    return tls12(setup, ciphers="ECDHE-ECDSA-CAMELLIA256-SHA384:@SECLEVEL=0")


@scenario("TLS 1.2 server with only CBC-SHA cipher suites", "class 3")
def _cbc_only() -> Setup:
    setup = standard()
    return tls12(setup, ciphers="ECDHE-ECDSA-AES128-SHA")


# --- class 5: internationalized host names ---------------------------------------------------

IDN_HOST = "hooks.straße.example.test"


@scenario("IDN host, leaf for its IDNA 2008 A-label", "class 5")
def _idn_2008() -> Setup:
    return dataclasses.replace(
        standard(dns_names=["hooks.xn--strae-oqa.example.test"]), host=IDN_HOST
    )


@scenario("IDN host, leaf for its IDNA 2003 form", "class 5")
def _idn_2003() -> Setup:
    setup = standard(dns_names=["hooks.strasse.example.test"])
    return dataclasses.replace(setup, host=IDN_HOST)


@scenario("TLS 1.2 server with only CBC-SHA256 cipher suites", "class 3")
def _cbc_sha256_only() -> Setup:
    return tls12(standard(), ciphers="ECDHE-ECDSA-AES128-SHA256")


@scenario("TLS 1.2 server with only RSA key exchange", "class 3")
def _rsa_kex_only() -> Setup:
    return tls12(_rsa2048(), ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384")


@scenario("server offering only the X448 group", "class 3")
def _x448() -> Setup:
    return dataclasses.replace(standard(), group="X448")


@scenario("server offering only the P-384 group", "class 3")
def _p384_group() -> Setup:
    return dataclasses.replace(standard(), group="secp384r1")


# --- class 7: what every client accepts ------------------------------------------------------


@scenario("private CA with non-critical CA:TRUE", "class 7")
def _lax_bc() -> Setup:
    p = hierarchy("Lax", basic_constraints_critical=False)
    return p.serve(leaf(p.cas[0]))


@scenario("trusted root without basicConstraints", "class 7")
def _root_no_bc() -> Setup:
    root = pki.issue(None, "Bare Root CA", ca=None)
    ca = pki.issue(root, "Intermediate CA")
    return _under(ca, root)


@scenario("trusted root without keyUsage", "class 7")
def _root_no_ku() -> Setup:
    root = pki.issue(None, "No Usage Root CA", key_usage=None)
    ca = pki.issue(root, "Intermediate CA")
    return _under(ca, root)


# --- class 8: the trust anchor is judged too -------------------------------------------------


@scenario("expired trusted root", "class 8")
def _expired_root() -> Setup:
    root = pki.issue(None, "Expired Root CA", validity=pki.EXPIRED)
    ca = pki.issue(root, "Intermediate CA")
    return _under(ca, root)


@scenario("trusted root not yet valid", "class 8")
def _future_root() -> Setup:
    root = pki.issue(None, "Future Root CA", validity=pki.NOT_YET_VALID)
    ca = pki.issue(root, "Intermediate CA")
    return _under(ca, root)


#: Scenario name -> why the check's verdict knowingly differs from a client's.
DELIBERATE: dict[str, str] = {
    "intermediate trusted directly (partial chain)": (
        "a trust bundle is the user's statement of what the sender trusts; Go, Java, curl "
        "and Python 3.13+ take any trusted certificate as an anchor, and only OpenSSL "
        "without X509_V_FLAG_PARTIAL_CHAIN (s_client's default) refuses it. Public root "
        "programs hold only self-signed roots, so this arises only with a private "
        "bundle; the check accepts it with a `partial-chain` warning"
    ),
}
