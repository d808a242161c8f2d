"""The kopf glue: handlers, daemons, peering and `webhook-cert run`.

Only this package imports kopf.
"""
