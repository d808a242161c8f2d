"""Pure: when to check an endpoint's served chain again.

Periodic checks are spread per endpoint (`check_spacing`); after an issuance, while the
server still serves the old leaf, the check is retried soon and then less often
(`stale_retry_delay`). The glue's daemon sleeps for what these say.

No I/O, no clock.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Final

#: Retries of the check after an issuance while the server still serves the old leaf:
#: servers and ingress controllers pick up a changed Secret within seconds to a minute
#: (kubelet's Secret volume sync period is about a minute), so start fast and back off.
STALE_RETRY_FIRST: Final = 5.0
STALE_RETRY_MAX: Final = 300.0


def stale_retry_delay(attempt: int) -> float:
    """Seconds before checking again when the server still serves the old leaf.

    `attempt` counts the retries already made (0 for the first, as kopf's `retry`):
    5s, 10s, 20s, 40s... doubling up to 5 minutes.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, not {attempt}")
    # 2**7 * 5s is past the cap already: no need for huge powers.
    return min(STALE_RETRY_FIRST * float(1 << min(attempt, 7)), STALE_RETRY_MAX)


def check_spacing(interval: timedelta, uid: str) -> float:
    """Seconds between periodic checks of one endpoint: its interval plus up to 10 %.

    The extra part is fixed per endpoint (derived from its uid), so endpoints created
    together spread out instead of probing in bursts, and each keeps a steady rhythm.
    """
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return interval.total_seconds() * (1 + 0.1 * fraction)
