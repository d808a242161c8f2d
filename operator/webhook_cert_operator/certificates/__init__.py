"""Certificates: keys and chains, the TLS Secret, renewal timing, reissue policies,
issuance and lifecycle."""
