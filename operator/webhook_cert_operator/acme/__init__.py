"""The ACME adapter (RFC 8555, RFC 9773): the operator's only door to a CA."""
