"""Orchestration: roll an endpoint's restart targets onto its current certificate.

spec.restartTargets names Deployments and StatefulSets whose servers read the Secret only
at start. Each is rolled once per certificate: its pod template records the serial it was
started with (`secret.RESTART_ANNOTATION`), so a restarted operator does not roll it again.
"""

from __future__ import annotations

from webhook_cert_operator.api import types as api
from webhook_cert_operator.certificates import ports
from webhook_cert_operator.certificates import secret as tls_secret


def roll(
    kube: ports.Workloads, report: ports.Report, spec: api.EndpointSpec, serial_number: str
) -> None:
    """Patch each target whose pod template records another serial than `serial_number`;
    an Event for each target rolled, and a Warning for each that does not exist."""
    namespace = report.endpoint.namespace
    for target in spec.restart_targets:
        annotations = kube.pod_template_annotations(target.kind, namespace, target.name)
        if annotations is None:
            report.post_event(
                "Warning",
                "RestartTargetMissing",
                f"{target.kind} {target.name} does not exist; nothing to restart",
            )
            continue
        if tls_secret.restart_needed(annotations, serial_number):
            kube.patch_workload(
                target.kind,
                namespace,
                target.name,
                tls_secret.restart_annotation_patch(serial_number),
            )
            report.post_event(
                "Normal",
                "Restarted",
                f"rolled {target.kind} {target.name} onto certificate {serial_number}",
            )
