"""The WebhookEndpoint API, pure: values (types), spec reading (parse, parse_http01, fields),
conditions (status) and the shared text formats (formats). It imports nothing else of the
operator."""
