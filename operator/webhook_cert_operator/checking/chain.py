"""Pure: judge a served certificate chain the way a strict webhook sender does.

Webhook senders such as RingCentral verify the endpoint's certificate with only what the
server sends in its TLS handshake and their own trust store: they never download a
missing intermediate from the leaf's AIA "CA Issuers" URL, as browsers do. A server that
sends its leaf alone therefore works in a browser and fails for the sender (SUB-524).

`analyse` turns a served chain into findings (findings.py), each naming the
certificates involved; a chain is valid when no finding is an error. It builds the path
as strict verifiers do (path.py), applies the rules of OpenSSL 3, Go and Java to each
certificate of it (rules.py, path_rules.py), and says what the path leaves out: which
issuer is missing, what is served out of order, twice or not at all needed.

No I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509

from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.certs import describe, describe_name, fingerprint, label
from webhook_cert_operator.checking.findings import Code, Finding, finding, sort_findings
from webhook_cert_operator.checking.path import (
    CertificationPath,
    build_path,
    identity,
    links_of,
    path_findings,
    self_signed,
    trust_index,
)
from webhook_cert_operator.checking.path_rules import path_rule_findings
from webhook_cert_operator.checking.rules import (
    hostname_findings,
    leaf_validity_findings,
    tls_findings,
)


def _order_findings(path: CertificationPath, served: Sequence[x509.Certificate]) -> list[Finding]:
    """`wrong-order` when the path's served certificates are not served in path order."""
    positions = list(path.indexes[1:])
    if positions == sorted(positions):
        return []
    expected = ", ".join(label(served[i]) for i in path.indexes)
    actual = ", ".join(label(served[i]) for i in sorted(path.indexes))
    return [
        finding(
            Code.WRONG_ORDER,
            f"the chain is served as {actual}; each certificate should be followed by its "
            f"issuer: {expected} (RFC 8446 section 4.4.2)",
        )
    ]


def _extra_findings(
    path: CertificationPath,
    served: Sequence[x509.Certificate],
    trust_roots: Sequence[x509.Certificate],
) -> list[Finding]:
    """A finding for each served certificate off the path: a duplicate, a served trusted
    root (`root-included`), another copy of a path certificate, or an unrelated one."""
    trusted = trust_index(trust_roots).by_identity
    on_path = {fingerprint(served[i]): i for i in path.indexes}
    path_identities = {identity(served[i]) for i in path.indexes}
    if path.anchor is not None:
        path_identities.add(identity(path.anchor))
    findings = []
    for index, cert in enumerate(served):
        if index in path.indexes or (cert == path.anchor and not self_signed(cert)):
            # The anchor itself may be served when the trust store holds an
            # intermediate: that is the path, not an extra.
            continue
        if fingerprint(cert) in on_path:
            message = f"{describe(cert)} is served more than once"
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
        elif self_signed(cert) and identity(cert) in trusted:
            message = (
                f"the root {describe(cert)} is served; clients use their own copy, "
                "so it only makes every handshake larger"
            )
            findings.append(finding(Code.ROOT_INCLUDED, message))
        elif identity(cert) in path_identities:
            message = (
                f"{describe(cert)} issued by {describe_name(cert.issuer)} is another copy "
                "(cross-signed or re-issued) of a certificate on the path, and is not needed"
            )
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
        else:
            message = (
                f"{describe(cert)} issued by {describe_name(cert.issuer)} is not part of the "
                f"path from the leaf {describe(served[0])} to a trusted root"
            )
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
    return findings


def _stale_findings(
    leaf: x509.Certificate, expected_leaf: x509.Certificate | None
) -> list[Finding]:
    """`stale-certificate` when a leaf is expected and another one is served."""
    if expected_leaf is None or leaf == expected_leaf:
        return []
    return [
        finding(
            Code.STALE_CERTIFICATE,
            f"the served leaf {label(leaf)} (serial {leaf.serial_number:x}, expires "
            f"{format_time(leaf.not_valid_after_utc)}) is not the expected certificate "
            f"{label(expected_leaf)} (serial {expected_leaf.serial_number:x}, expires "
            f"{format_time(expected_leaf.not_valid_after_utc)})",
        )
    ]


def analyse(
    served: Sequence[x509.Certificate],
    *,
    host: str,
    trust_roots: Sequence[x509.Certificate],
    now: datetime,
    tls_version: str | None,
    min_tls_version: str = "1.2",
    expected_leaf: x509.Certificate | None = None,
    warn_before: timedelta = timedelta(days=14),
) -> list[Finding]:
    """Findings about a chain as served (leaf first), for a client connecting to `host`.

    `trust_roots` is the client's trust store, `now` the time to judge validity at,
    `tls_version` the negotiated protocol as OpenSSL names it ("TLSv1.3") or None if
    unknown, `expected_leaf` the certificate that should be served (the Secret's).
    ValueError if `min_tls_version` is not a TLS version.

    The verdict is the strictest of OpenSSL 3 at security level 2, Go's crypto/x509 and
    Java's PKIX without AIA fetching: each rule is applied here to every certificate of
    the path and named in its own finding, and docs/conformance.md shows the agreement
    with those clients on a corpus of served chains. A rule that only a library (not a
    sender) applies, such as the CA/Browser Forum's critical basicConstraints, is not one.
    """
    findings = tls_findings(tls_version, min_tls_version)
    if not served:
        findings.append(finding(Code.INCOMPLETE_CHAIN, "the server sent no certificate at all"))
        return sort_findings(findings)
    # TLS requires the server's own certificate first (RFC 8446 section 4.4.2, RFC 5246
    # section 7.4.2), and a server cannot send another first: its key must match.
    leaf = served[0]
    path = build_path(served, trust_roots, now)
    findings += path_findings(path, served, trust_roots)
    findings += leaf_validity_findings(leaf, now, warn_before)
    findings += hostname_findings(leaf, host)
    findings += path_rule_findings(links_of(path, served), now)
    findings += _stale_findings(leaf, expected_leaf)
    findings += _order_findings(path, served)
    findings += _extra_findings(path, served, trust_roots)
    return sort_findings(findings)
