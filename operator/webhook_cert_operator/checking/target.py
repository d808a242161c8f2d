"""Pure. Where a served-chain check connects: the endpoint's URL, and another address to dial.

The CLI (`webhook-cert check URL --connect HOST:PORT`) and the operator
(`spec.validation.url`, `spec.validation.connectTo`) read the same two things the same
way. The URL's host is what a webhook sender sends as SNI and matches against the
certificate; the dial target only changes where the TCP connection goes.

Pure: no I/O.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import idna

from webhook_cert_operator.api.formats import split_host_port


@dataclass(frozen=True)
class Target:
    """Where to connect: the URL's host (SNI and name check) and port."""

    url: str
    host: str
    port: int


@dataclass(frozen=True)
class Dial:
    """Another host (or address) and port to dial; SNI stays the URL's host."""

    host: str
    port: int | None


def ascii_host(host: str) -> str:
    """A host name as it goes on the wire: each label's A-label (`xn--...`) as IDNA 2008
    with the UTS #46 mapping makes it, as browsers, curl and registries do (so "ß" stays a
    letter of its own: "straße.example" is "xn--strae-oqa.example", not the IDNA 2003
    "strasse.example"). IP literals and ASCII names come back lowercased, a trailing dot
    kept. ValueError when the name is not a valid IDNA name.
    """
    text = host.strip()
    if text.isascii():
        return text.lower()
    trailing = "." if text.endswith(".") else ""
    try:
        encoded = idna.encode(text.rstrip("."), uts46=True, transitional=False)
    except idna.IDNAError as error:
        raise ValueError(f"{host!r} is not a valid internationalized host name: {error}") from None
    return encoded.decode("ascii") + trailing


def parse_url(text: str) -> Target:
    """An https URL (a bare host name is taken as https://NAME/); ValueError otherwise."""
    if "://" not in text:
        text = f"https://{text}/"
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() != "https":
        raise ValueError(f"{text!r} is not an https:// URL")
    try:
        port = parts.port or 443
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"{text!r} has no host")
    return Target(url=text, host=ascii_host(parts.hostname), port=port)


def parse_dial(text: str) -> Dial:
    """HOST, HOST:PORT, IPv6 or [IPv6]:PORT; ValueError otherwise."""
    text = text.strip()
    try:
        host_port = split_host_port(text)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    return Dial(host_port.host, host_port.port)
