"""Count the operator's API writes from the local cluster's apiserver audit log.

The local cluster logs every write at Metadata level (`localcluster.cluster.AUDIT_POLICY`)
to `LocalCluster.audit_log`, one JSON event a line: who, verb, resource, when. A `Mark`
remembers where the log ended, so a benchmark reads only what came after it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from localcluster.operator import OPERATOR_NAMESPACE

from benchmarks.harness import parse_time

OPERATOR_USER_PREFIX = f"system:serviceaccount:{OPERATOR_NAMESPACE}:"


@dataclass(frozen=True)
class Write:
    user: str
    verb: str
    resource: str  # "webhookendpoints/status", "events", ...
    namespace: str
    at: datetime
    code: int


@dataclass(frozen=True)
class Mark:
    path: Path
    offset: int

    @classmethod
    def now(cls, path: Path) -> Mark:
        return cls(path, path.stat().st_size if path.exists() else 0)

    def writes(self) -> Iterator[Write]:
        """Every write logged after the mark (from the start if the log was rotated)."""
        with self.path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(self.offset if size >= self.offset else 0)
            for line in log:
                event = json.loads(line)
                ref = event.get("objectRef") or {}
                resource = ref.get("resource", "?")
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                at = parse_time(event.get("stageTimestamp"))
                assert at is not None
                yield Write(
                    user=(event.get("user") or {}).get("username", ""),
                    verb=event.get("verb", "?"),
                    resource=resource,
                    namespace=ref.get("namespace", ""),
                    at=at,
                    code=int((event.get("responseStatus") or {}).get("code") or 0),
                )


def operator_writes(
    mark: Mark, start: datetime, end: datetime, namespace: str | None = None
) -> list[Write]:
    """The operator's writes between `start` and `end`, optionally only those in one
    namespace and in the operator's own (ACME account Secrets); cluster-scoped writes
    (kopf's peering keep-alive) are then left out: they are not the issuance's."""
    return [
        w
        for w in mark.writes()
        if w.user.startswith(OPERATOR_USER_PREFIX)
        and start <= w.at <= end
        and (namespace is None or w.namespace in (namespace, OPERATOR_NAMESPACE))
    ]


def table(writes: list[Write]) -> str:
    """Writes grouped by verb and resource, most first."""
    counts = Counter((w.verb, w.resource) for w in writes)
    failed = Counter((w.verb, w.resource) for w in writes if w.code >= 400)
    lines = [f"    {'count':>5}  {'verb':<7} resource"]
    for (verb, resource), count in counts.most_common():
        refused = f"  ({failed[verb, resource]} refused)" if failed[verb, resource] else ""
        lines.append(f"    {count:5d}  {verb:<7} {resource}{refused}")
    lines.append(f"    {len(writes):5d}  total")
    return "\n".join(lines)
