"""Pure: when the served-chain daemon checks an endpoint next.

No I/O and no clock: times are seconds on the monotonic clock, passed in. The daemon
(`glue.handlers.check_served_chain`) wakes every few seconds, asks `CheckSchedule.due`,
runs the check when it is, and keeps what `after_check` (or `after_invalid_spec`)
returns. The rules:

- nothing is checked before the endpoint has a certificate (an endpoint still being
  issued would only show the ingress's default certificate); check-only endpoints
  always have one to look at;
- a new certificate, a new spec generation or (check-only) a new version of the
  referenced Secret is checked at once;
- otherwise every spec.validation.interval plus up to 10 % fixed per endpoint
  (`checker.check_spacing`), and at least every 5 minutes while the check fails (someone
  is likely fixing it: show the fix soon);
- right after a new certificate a server may still serve the old leaf
  (`stale-certificate`): checked again after 5 s, 10 s, 20 s ... up to 5 minutes
  (`checker.stale_retry_delay`), at most `STALE_RETRIES` times, before settling back to
  the interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from webhook_cert_operator.checking.schedule import check_spacing, stale_retry_delay

# How often each endpoint's daemons wake to see whether something is due (seconds).
DAEMON_POLL: Final = 5.0
# After a new certificate, how many growing re-checks while the old leaf is still served.
STALE_RETRIES: Final = 8
# A failed check is repeated at least this often, even with a longer spec interval.
RECHECK_FAILED: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class Checked:
    """What a check looked at: status.serialNumber, metadata.generation and (check-only)
    status.secretResourceVersion. Any change asks for a check at once. `check_only`: the
    endpoint's certificate comes from elsewhere, so there is one to check without a
    serial in status."""

    serial: str | None
    generation: int
    secret_version: str | None
    check_only: bool = False


@dataclass(frozen=True)
class CheckSchedule:
    """One endpoint's check schedule: what was last settled (checked with a final
    verdict), the stale-certificate re-checks made since, and when the next check is due
    (monotonic seconds)."""

    settled: Checked | None = None
    stale_attempts: int = 0
    next_check: float = 0.0

    def due(self, now: Checked, at: float) -> bool:
        """Whether to check at `at`, seeing `now`: something changed (and no stale
        re-checks are under way), or the next check's time has come."""
        if now.serial is None and not now.check_only:
            return False  # no certificate issued yet: nothing of ours is served
        changed = now != self.settled and self.stale_attempts == 0
        return changed or at >= self.next_check

    def after_invalid_spec(self, seen: Checked, at: float) -> CheckSchedule:
        """Nothing to check until the spec changes: look again at the next wake-up."""
        return replace(self, settled=seen, next_check=at + DAEMON_POLL)

    def after_check(
        self, seen: Checked, at: float, *, ok: bool, stale: bool, interval: timedelta, uid: str
    ) -> CheckSchedule:
        """The schedule after a check at `at` of `seen`; `ok` its verdict, `stale` whether
        the server served another leaf than the Secret's, `interval` the spec's and
        `uid` the endpoint's (for its fixed spread)."""
        if stale and seen.serial and self.stale_attempts < STALE_RETRIES:
            return replace(
                self,
                next_check=at + stale_retry_delay(self.stale_attempts),
                stale_attempts=self.stale_attempts + 1,
            )
        if not ok:
            interval = min(interval, RECHECK_FAILED)
        return CheckSchedule(settled=seen, next_check=at + check_spacing(interval, uid))
