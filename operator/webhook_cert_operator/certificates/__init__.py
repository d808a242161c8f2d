"""Certificates: keys and chains, the TLS Secret, renewal timing, issuance and lifecycle."""
