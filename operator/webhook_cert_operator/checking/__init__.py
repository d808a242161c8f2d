"""The served-chain check: where to connect, what is served, and how a strict sender judges it."""
