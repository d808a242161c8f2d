"""Ingress automation: WebhookEndpoints derived from annotated Ingresses."""
