"""Differential tests of the served-chain check against real strict TLS clients.

A corpus of generated scenarios (`scenarios.py`: private PKIs, each served by a local
TLS server on 127.0.0.1) is judged by `webhook-cert check`'s analysis and by three
client families that webhook senders are built on (`clients.py`): OpenSSL 3's
`s_client -verify_return_error`, a Go crypto/tls client and a Java default-PKIX client.
`python -m conformance` (`make conformance`) prints the table; the tests in
`tests/conformance/` hold the check to the contract of DESIGN.md: refuse whatever any
client refuses, accept whatever all accept, except the deliberate differences listed
in `scenarios.DELIBERATE` and docs/conformance.md.

This is test tooling, not part of the operator's package.
"""
