"""The `webhook-cert` commands other than `run` and `solve`."""
