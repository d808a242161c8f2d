"""webhook-cert-operator: ACME certificates for public webhook endpoints, with served-chain checks."""

__version__ = "0.1.0"
