"""webhook-cert-operator: ACME certificates for webhook endpoints, with served-chain checks."""

__version__ = "0.1.0"
