"""Pure: the rules every strict client family applies to each certificate of the path.

Given the path's certificates (`path.links_of`: the leaf first, the trust anchor last),
each rule names every certificate that breaks it: validity of the intermediates and the
anchor, signature algorithms and keys (`rules.py`), CA-ness (basicConstraints, keyUsage
keyCertSign, pathLenConstraint), the leaf's keyUsage and every extendedKeyUsage,
unprocessed critical extensions, nameConstraints, and a path that ends at a trusted
certificate that is not a root. The sources are RFC 5280 and what OpenSSL 3, Go's
crypto/x509 and Java's PKIX do (docs/conformance.md).

No I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from webhook_cert_operator.checking.certs import (
    describe,
    describe_name,
    extension,
    subject_alt_names,
)
from webhook_cert_operator.checking.findings import Code, Finding, finding
from webhook_cert_operator.checking.path import Link, self_signed
from webhook_cert_operator.checking.rules import key_finding, signature_finding, validity_problem


def path_rule_findings(links: Sequence[Link], now: datetime) -> list[Finding]:
    """Every rule's findings on the path's certificates (`links`, leaf first), judged at
    `now`, unsorted: each rule has codes of its own, so `findings.sort_findings` gives one
    order whatever the order of the rules."""
    return [
        *_validity_findings(links, now),
        *_algorithm_findings(links),
        *_ca_findings(links),
        *_usage_findings(links),
        *_critical_extension_findings(links),
        *_name_constraint_findings(links),
        *_partial_chain_findings(links),
    ]


def _dns_within(name: str, subtree: str) -> bool:
    """RFC 5280 section 4.2.1.10: "example.com" covers itself and every name below it; a
    leading dot (".example.com", as OpenSSL and Go read it) covers only names below."""
    name, subtree = name.rstrip(".").lower(), subtree.rstrip(".").lower()
    if not subtree:
        return True
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


def _networks(
    subtrees: Sequence[x509.GeneralName],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        g.value
        for g in subtrees
        if isinstance(g, x509.IPAddress)
        and isinstance(g.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    ]


def _name_constraint_findings(links: Sequence[Link]) -> list[Finding]:
    """Each CA's nameConstraints bound the leaf's subjectAltName DNS names and IP
    addresses (RFC 5280 section 4.2.1.10); OpenSSL, Go and Java enforce them."""
    san = subject_alt_names(links[0].cert)
    if san is None:
        return []
    findings = []
    for link in links[1:]:
        constraints = extension(link.cert, x509.NameConstraints)
        if constraints is None:
            continue
        outside = _outside(san, constraints)
        if outside:
            findings.append(
                finding(
                    Code.NAME_CONSTRAINTS,
                    f"the leaf {describe(links[0].cert)} names {', '.join(outside)}, outside "
                    f"the nameConstraints of {describe(link.cert)} (RFC 5280 section 4.2.1.10)",
                )
            )
    return findings


def _outside(san: x509.SubjectAlternativeName, constraints: x509.NameConstraints) -> list[str]:
    """The leaf's names ("DNS:a.example", "IP:192.0.2.1") that `constraints` exclude or do
    not permit, in the subjectAltName's order, DNS names first."""
    permitted = list(constraints.permitted_subtrees or ())
    excluded = list(constraints.excluded_subtrees or ())
    permitted_dns = [g.value for g in permitted if isinstance(g, x509.DNSName)]
    excluded_dns = [g.value for g in excluded if isinstance(g, x509.DNSName)]
    permitted_ip = _networks(permitted)
    excluded_ip = _networks(excluded)
    outside = [
        f"DNS:{n}"
        for n in san.get_values_for_type(x509.DNSName)
        if (permitted_dns and not any(_dns_within(n, t) for t in permitted_dns))
        or any(_dns_within(n, t) for t in excluded_dns)
    ]
    outside += [
        f"IP:{a}"
        for a in san.get_values_for_type(x509.IPAddress)
        if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)
        and (
            (permitted_ip and not any(a in net for net in permitted_ip))
            or any(a in net for net in excluded_ip)
        )
    ]
    return outside


def _partial_chain_findings(links: Sequence[Link]) -> list[Finding]:
    """A path that ends at a trusted certificate which is not a self-signed root: Go,
    Java, curl and Python 3.13+ take any trusted certificate as an anchor, while OpenSSL
    without X509_V_FLAG_PARTIAL_CHAIN (`s_client`, older software) looks for its issuer
    and refuses. A warning, not an error: see docs/conformance.md (deliberate differences).
    """
    anchor = links[-1]
    if not anchor.anchor or self_signed(anchor.cert):
        return []
    return [
        finding(
            Code.PARTIAL_CHAIN,
            f"the path ends at {describe(anchor.cert)}, a trusted certificate that is not a "
            f"self-signed root (issued by {describe_name(anchor.cert.issuer)}): OpenSSL-based "
            "senders without partial-chain support refuse it; trust its root instead",
        )
    ]


def _validity_findings(links: Sequence[Link], now: datetime) -> list[Finding]:
    """Every certificate of the path must be valid now, the trust anchor included: OpenSSL
    and Go check the anchor's dates (Java's PKIX does not; the strictest decides)."""
    findings = []
    for link in links[1:]:
        problem = validity_problem(link.cert, now)
        if problem is None:
            continue
        if link.anchor:
            message = f"the trusted root {describe(link.cert)} {problem}"
            findings.append(finding(Code.ROOT_EXPIRED, message))
        else:
            message = f"the served intermediate {describe(link.cert)} {problem}"
            findings.append(finding(Code.INTERMEDIATE_EXPIRED, message))
    return findings


def _algorithm_findings(links: Sequence[Link]) -> list[Finding]:
    """`rules.signature_finding` on each certificate but the trust anchor, whose own
    signature no client judges, and `rules.key_finding` on each, the anchor included."""
    findings = []
    for link in links:
        if not link.anchor:
            signature = signature_finding(link.cert)
            if signature is not None:
                findings.append(signature)
        key = key_finding(link.cert)
        if key is not None:
            findings.append(key)
    return findings


def _ca_findings(links: Sequence[Link]) -> list[Finding]:
    """Each issuer on the path must be a CA (RFC 5280 sections 4.2.1.9, 4.2.1.3, 6.1.4):
    basicConstraints with cA TRUE (critical or not: OpenSSL, Go and Java accept a
    non-critical one, though RFC 5280 says MUST be critical), keyCertSign when keyUsage is
    present (OpenSSL, Go, Java), and a pathLenConstraint no smaller than the number of
    intermediates below it."""
    findings = []
    for link in links[1:]:
        if link.anchor and link.depth == 0:
            continue
        basic = _basic_constraints_finding(links, link)
        if basic is not None:
            findings.append(basic)
        usage = extension(link.cert, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            findings.append(
                finding(
                    Code.INVALID_CA,
                    f"{describe(link.cert)} has a keyUsage without keyCertSign, so it may not "
                    "sign certificates: OpenSSL, Go and Java refuse what it issued "
                    "(RFC 5280 section 4.2.1.3)",
                )
            )
    return findings


def _basic_constraints_finding(links: Sequence[Link], link: Link) -> Finding | None:
    """`invalid-ca` when the issuer at `link` is not a CA (basicConstraints cA) or has
    more intermediates below it than its pathLenConstraint allows (RFC 5280 section
    4.2.1.9); self-issued certificates do not count (RFC 5280 section 6.1.4 l)."""
    cert = link.cert
    constraints = extension(cert, x509.BasicConstraints)
    below = sum(1 for other in links[1 : link.depth] if other.cert.subject != other.cert.issuer)
    if constraints is None or not constraints.ca:
        state = "has no basicConstraints" if constraints is None else "says CA:FALSE"
        return finding(
            Code.INVALID_CA,
            f"{describe(cert)} issues {describe(links[link.depth - 1].cert)} but {state}: "
            "OpenSSL, Go and Java accept only CA certificates as issuers "
            "(RFC 5280 section 4.2.1.9)",
        )
    if constraints.path_length is not None and below > constraints.path_length:
        return finding(
            Code.INVALID_CA,
            f"{describe(cert)} allows {constraints.path_length} intermediate(s) below it "
            f"(pathLenConstraint) but has {below} (RFC 5280 section 4.2.1.9)",
        )
    return None


def _usage_findings(links: Sequence[Link]) -> list[Finding]:
    """The leaf's keyUsage must allow digitalSignature (Java's end-entity check for
    (EC)DHE and TLS 1.3), and every certificate's extendedKeyUsage, when present, must
    list serverAuth: Go checks it on the whole chain, OpenSSL 3.0 on the leaf, its CAs
    and the anchor, where anyExtendedKeyUsage does not stand for serverAuth."""
    findings = []
    leaf = links[0].cert
    usage = extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        findings.append(
            finding(
                Code.KEY_USAGE,
                f"the leaf {describe(leaf)} has a keyUsage without digitalSignature: Java "
                "refuses it for the (EC)DHE and TLS 1.3 handshakes senders use",
            )
        )
    for link in links:
        eku = extension(link.cert, x509.ExtendedKeyUsage)
        if eku is None or ExtendedKeyUsageOID.SERVER_AUTH in eku:
            continue
        shown = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "nothing"
        what = "the leaf" if link.depth == 0 else "the CA"
        findings.append(
            finding(
                Code.KEY_USAGE,
                f"{what} {describe(link.cert)} limits its extendedKeyUsage to {shown}, without "
                "serverAuth: Go and OpenSSL refuse it for a TLS server (OpenSSL 3.0 does not "
                "take anyExtendedKeyUsage for serverAuth)",
            )
        )
    return findings


# Extensions that OpenSSL, Go and Java all process, so a critical one is understood.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
)


def _critical_extension_findings(links: Sequence[Link]) -> list[Finding]:
    """RFC 5280 section 4.2: a certificate with a critical extension the client does not
    process must be refused; OpenSSL applies it to every certificate of the chain."""
    findings = []
    for link in links:
        try:
            extensions = list(link.cert.extensions)
        except ValueError as error:
            message = f"{describe(link.cert)} has malformed extensions ({error})"
            findings.append(finding(Code.POLICY_VIOLATION, message))
            continue
        for ext in extensions:
            if ext.critical and ext.oid not in _UNDERSTOOD:
                name = getattr(ext.oid, "_name", "")
                shown = ext.oid.dotted_string
                if name and name != "Unknown OID":
                    shown = f"{name} ({shown})"
                findings.append(
                    finding(
                        Code.POLICY_VIOLATION,
                        f"{describe(link.cert)} has the critical extension {shown}, which "
                        "OpenSSL, Go and Java do not process, so they refuse the "
                        "certificate (RFC 5280 section 4.2)",
                    )
                )
    return findings
