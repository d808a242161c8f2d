"""The WebhookEndpoint API: its types, parsing, status and formats (pure)."""
