"""The node agent: plays kubelet for one Node of the local cluster.

It registers the Node, then runs every Pod bound to it whose containers all use this
project's image as local processes: `webhook-cert ...` resolves to the installed CLI, each
Pod gets its own network namespace and address (see `network.py`), container env is
resolved as a kubelet would (values, field, Secret and ConfigMap references), readiness
probes are honoured, and the processes stop when the Pod is deleted. A Pod with any other
image stays Pending with a message saying why. This is the only stand-in in the cluster:
it replaces the container runtime, nothing else. Without an image there is no root
filesystem to make read-only and no user to switch to (the interpreter may not even be
readable by another user), so the security context is left to the apiserver, whose Pod
Security admission enforces it in namespaces labelled for it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from localcluster import network

log = logging.getLogger("node-agent")

_PROBE_TIMEOUT = 1.0
_RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_repository(image: str) -> str:
    """`registry:5000/org/webhook-cert-operator:1.0@sha256:..` -> `webhook-cert-operator`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def container_argv(container: dict[str, Any], webhook_cert: str) -> list[str]:
    """Docker semantics for the project's image: ENTRYPOINT webhook-cert, CMD run."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    argv = command + args if command else ["webhook-cert", *(args or ["run"])]
    if argv[0] == "webhook-cert":
        argv[0] = webhook_cert
    return argv


@dataclass
class Probe:
    kind: str  # "http" or "tcp"
    port: int
    path: str = "/"
    initial_delay: float = 0.0
    period: float = 10.0


@dataclass
class Container:
    name: str
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    started_at_text: str = ""
    restart_count: int = 0
    ready: bool = False
    next_probe: float = 0.0
    exit_code: int | None = None
    next_restart: float = 0.0

    @property
    def probe(self) -> Probe | None:
        spec = self.spec.get("readinessProbe")
        if not spec:
            return None
        ports = {p.get("name"): p["containerPort"] for p in self.spec.get("ports") or []}

        def port_of(value: Any) -> int:
            return int(ports[value]) if isinstance(value, str) and value in ports else int(value)

        timing = {
            "initial_delay": float(spec.get("initialDelaySeconds", 0)),
            "period": float(spec.get("periodSeconds", 10)),
        }
        if "httpGet" in spec:
            http = spec["httpGet"]
            return Probe("http", port_of(http["port"]), http.get("path", "/"), **timing)
        if "tcpSocket" in spec:
            return Probe("tcp", port_of(spec["tcpSocket"]["port"]), **timing)
        return None


@dataclass
class RunningPod:
    uid: str
    namespace: str
    name: str
    host: int
    netns: str
    restart_policy: str
    containers: list[Container] = field(default_factory=list)
    reported: str = ""

    @property
    def ip(self) -> str:
        return network.pod_ip(self.host)


class NodeAgent:
    def __init__(
        self,
        api: client.CoreV1Api,
        *,
        node_name: str,
        node_ip: str,
        state_dir: Path,
        image_repository: str,
        webhook_cert: str,
    ) -> None:
        self.api = api
        self.node_name = node_name
        self.node_ip = node_ip
        self.state_dir = state_dir
        self.image_repository = image_repository
        self.webhook_cert = webhook_cert
        self.pods: dict[str, RunningPod] = {}
        self.refused: set[str] = set()
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.stopping = threading.Event()

    # ---- node ---------------------------------------------------------------------------

    def register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        try:
            self.api.create_node(node)
        except ApiException as error:
            if error.status != 409:
                raise
        # The TaintNodesByCondition admission plugin gives a new Node the not-ready taint,
        # which the node lifecycle controller lifts once the Node reports Ready. That
        # controller would also need kubelet heartbeats, so this agent lifts it itself.
        self.api.patch_node(self.node_name, {"spec": {"taints": None}})
        capacity = {"cpu": "8", "memory": "16Gi", "pods": "110"}
        status = {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "addresses": [
                    {"type": "InternalIP", "address": self.node_ip},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "node agent is running pods of the project's image",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "v0.0.0-localcluster",
                    "containerRuntimeVersion": "localcluster://processes",
                    "kernelVersion": os.uname().release,
                    "osImage": "local processes",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                    "kubeProxyVersion": "",
                },
            }
        }
        self.api.patch_node_status(self.node_name, status)

    # ---- pods ---------------------------------------------------------------------------

    def handle(self, kind: str, pod: dict[str, Any]) -> None:
        metadata = pod["metadata"]
        uid = metadata["uid"]
        if kind == "DELETED":
            self.stop_pod(uid)
            return
        if metadata.get("deletionTimestamp"):
            self.stop_pod(uid)
            self._finish_deletion(metadata)
            return
        if uid in self.pods or uid in self.refused:
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        containers = pod["spec"]["containers"]
        foreign = [
            c["image"]
            for c in containers
            if image_repository(c.get("image", "")) != self.image_repository
        ]
        if foreign:
            self.refuse(pod, foreign)
            return
        self.start_pod(pod)

    def refuse(self, pod: dict[str, Any], images: list[str]) -> None:
        metadata = pod["metadata"]
        self.refused.add(metadata["uid"])
        message = (
            f"the local cluster's node agent runs only {self.image_repository} images; "
            f"cannot run {', '.join(sorted(set(images)))}"
        )
        log.info("refusing pod %s/%s: %s", metadata["namespace"], metadata["name"], message)
        status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ImageNotRunnable",
                    "message": message,
                    "lastTransitionTime": _now(),
                },
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImageNotRunnable", "message": message}},
                }
                for c in pod["spec"]["containers"]
            ],
        }
        self._patch_status(metadata, status)

    def start_pod(self, pod: dict[str, Any]) -> None:
        metadata, spec = pod["metadata"], pod["spec"]
        used = {p.host for p in self.pods.values()}
        free = [h for h in range(network.FIRST_POD_HOST, network.LAST_POD_HOST) if h not in used]
        if not free:
            log.error("no pod address left for %s/%s", metadata["namespace"], metadata["name"])
            return
        host = free[0]
        netns = network.create_pod_network(host)
        running = RunningPod(
            uid=metadata["uid"],
            namespace=metadata["namespace"],
            name=metadata["name"],
            host=host,
            netns=netns,
            restart_policy=spec.get("restartPolicy", "Always"),
            containers=[Container(c["name"], c) for c in spec["containers"]],
        )
        self.pods[running.uid] = running
        log.info("starting pod %s/%s at %s", running.namespace, running.name, running.ip)
        for container in running.containers:
            self._spawn(running, pod, container)
        self._save_state()
        self.report(running, started=True)

    def _spawn(self, running: RunningPod, pod: dict[str, Any], container: Container) -> None:
        argv = container_argv(container.spec, self.webhook_cert)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
        env.update(self._container_env(pod, running, container.spec))
        log_path = (
            self.state_dir / "logs" / f"{running.namespace}_{running.name}_{container.name}.log"
        )
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            container.process = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{running.netns}", "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,
            )
        container.started_at = time.monotonic()
        container.started_at_text = _now()
        container.exit_code = None
        container.ready = container.probe is None
        probe = container.probe
        container.next_probe = container.started_at + (probe.initial_delay if probe else 0)

    def _container_env(
        self, pod: dict[str, Any], running: RunningPod, spec: dict[str, Any]
    ) -> dict[str, str]:
        namespace = running.namespace
        env: dict[str, str] = {}
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self._config_map(namespace, source["configMapRef"]["name"])
            elif "secretRef" in source:
                data = self._secret(namespace, source["secretRef"]["name"])
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        fields = {
            "metadata.name": running.name,
            "metadata.namespace": namespace,
            "metadata.uid": running.uid,
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": running.ip,
            "status.hostIP": self.node_ip,
        }
        for item in spec.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            source = item.get("valueFrom") or {}
            if "fieldRef" in source:
                env[item["name"]] = fields.get(source["fieldRef"]["fieldPath"], "")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[item["name"]] = self._secret(namespace, ref["name"]).get(ref["key"], "")
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                env[item["name"]] = self._config_map(namespace, ref["name"]).get(ref["key"], "")
        return env

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        secret = self.api.read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _config_map(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.api.read_namespaced_config_map(name, namespace).data or {})

    def stop_pod(self, uid: str) -> None:
        self.refused.discard(uid)
        running = self.pods.pop(uid, None)
        if running is None:
            return
        log.info("stopping pod %s/%s", running.namespace, running.name)
        for container in running.containers:
            _terminate(container.process)
        network.delete_netns(running.netns)
        self._save_state()

    def _finish_deletion(self, metadata: dict[str, Any]) -> None:
        """A kubelet removes the Pod object once its containers are gone."""
        try:
            self.api.delete_namespaced_pod(
                metadata["name"],
                metadata["namespace"],
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0,
                    preconditions=client.V1Preconditions(uid=metadata["uid"]),
                ),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    # ---- periodic work ------------------------------------------------------------------

    def tick(self) -> None:
        now = time.monotonic()
        for running in list(self.pods.values()):
            for container in running.containers:
                self._check_process(running, container, now)
                self._check_readiness(container, running, now)
            self.report(running)

    def _check_process(self, running: RunningPod, container: Container, now: float) -> None:
        process = container.process
        if process is None:
            if container.next_restart and now >= container.next_restart:
                container.next_restart = 0.0
                container.restart_count += 1
                pod = self.api.read_namespaced_pod(running.name, running.namespace)
                self._spawn(running, self.api.api_client.sanitize_for_serialization(pod), container)
            return
        code = process.poll()
        if code is None:
            return
        container.process = None
        container.exit_code = code
        container.ready = False
        log.info(
            "container %s of %s/%s exited with %s",
            container.name,
            running.namespace,
            running.name,
            code,
        )
        policy = running.restart_policy
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            delay = _RESTART_BACKOFF[min(container.restart_count, len(_RESTART_BACKOFF) - 1)]
            container.next_restart = now + delay

    def _check_readiness(self, container: Container, running: RunningPod, now: float) -> None:
        probe = container.probe
        if probe is None or container.process is None or now < container.next_probe:
            return
        container.next_probe = now + probe.period
        container.ready = _probe(running.ip, probe)

    def report(self, running: RunningPod, *, started: bool = False) -> None:
        """Write the Pod's status when it changed, as the kubelet's status manager does."""
        containers = running.containers
        all_ready = all(c.ready for c in containers)
        finished = all(c.process is None and not c.next_restart for c in containers)
        if finished:
            failed = any(c.exit_code for c in containers)
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running"
        statuses = [self._container_status(c) for c in containers]
        summary = json.dumps([phase, all_ready, statuses], sort_keys=True)
        if summary == running.reported and not started:
            return
        running.reported = summary
        ready = "True" if all_ready and phase == "Running" else "False"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": self.node_ip,
            "hostIPs": [{"ip": self.node_ip}],
            "podIP": running.ip,
            "podIPs": [{"ip": running.ip}],
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": _now()},
                {"type": "Ready", "status": ready, "lastTransitionTime": _now()},
            ],
            "containerStatuses": statuses,
        }
        if started:
            status["startTime"] = _now()
        self._patch_status({"name": running.name, "namespace": running.namespace}, status)
        if finished:
            for container in containers:
                _terminate(container.process)
            network.delete_netns(running.netns)

    @staticmethod
    def _container_status(container: Container) -> dict[str, Any]:
        state: dict[str, Any]
        if container.process is not None:
            state = {"running": {"startedAt": container.started_at_text}}
        elif container.next_restart:
            state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"exited with code {container.exit_code}",
                }
            }
        else:
            state = {
                "terminated": {
                    "exitCode": container.exit_code or 0,
                    "reason": "Error" if container.exit_code else "Completed",
                }
            }
        return {
            "name": container.name,
            "image": container.spec.get("image", ""),
            "imageID": "",
            "containerID": f"localcluster://{container.process.pid}" if container.process else "",
            "ready": container.ready,
            "started": container.process is not None,
            "restartCount": container.restart_count,
            "state": state,
        }

    def _patch_status(self, metadata: dict[str, Any], status: dict[str, Any]) -> None:
        try:
            self.api.patch_namespaced_pod_status(
                metadata["name"], metadata["namespace"], {"status": status}
            )
        except ApiException as error:
            if error.status != 404:
                log.warning(
                    "status of %s/%s: %s", metadata["namespace"], metadata["name"], error.reason
                )

    # ---- state across restarts of the agent ---------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "pods.json"

    def _save_state(self) -> None:
        state = {
            uid: {
                "netns": p.netns,
                "pids": [c.process.pid for c in p.containers if c.process is not None],
            }
            for uid, p in self.pods.items()
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(state))

    def clean_up_previous_run(self) -> None:
        """Processes of a previous agent are stopped; their Pods are started afresh."""
        try:
            state = json.loads(self._state_file.read_text())
        except (FileNotFoundError, ValueError):
            state = {}
        for entry in state.values():
            for pid in entry.get("pids", []):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        for name in network.pod_netns_names():
            network.delete_netns(name)
        self._state_file.unlink(missing_ok=True)

    # ---- main loop ----------------------------------------------------------------------

    def watch_pods(self) -> None:
        serialize = self.api.api_client.sanitize_for_serialization
        selector = f"spec.nodeName={self.node_name}"
        while not self.stopping.is_set():
            try:
                for event in watch.Watch().stream(
                    self.api.list_pod_for_all_namespaces,
                    field_selector=selector,
                    timeout_seconds=120,
                ):
                    self.events.put((event["type"], serialize(event["object"])))
            except Exception as error:  # the watch restarts; the agent must not die
                log.warning("pod watch interrupted: %s", error)
                time.sleep(1)

    def run(self) -> None:
        self.clean_up_previous_run()
        self.register_node()
        threading.Thread(target=self.watch_pods, daemon=True).start()
        log.info("node %s ready", self.node_name)
        while not self.stopping.is_set():
            try:
                kind, pod = self.events.get(timeout=0.5)
                self.handle(kind, pod)
            except queue.Empty:
                pass
            except Exception:
                log.exception("while handling a pod event")
            self.tick()
        for uid in list(self.pods):
            self.stop_pod(uid)


def _terminate(process: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _probe(ip: str, probe: Probe) -> bool:
    try:
        if probe.kind == "tcp":
            with socket.create_connection((ip, probe.port), timeout=_PROBE_TIMEOUT):
                return True
        url = f"http://{ip}:{probe.port}{probe.path}"
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT) as response:
            return 200 <= int(response.status) < 400
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--node-ip", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--image-repository", required=True)
    parser.add_argument("--webhook-cert", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config.load_kube_config(config_file=args.kubeconfig)
    agent = NodeAgent(
        client.CoreV1Api(),
        node_name=args.node_name,
        node_ip=args.node_ip,
        state_dir=args.state_dir,
        image_repository=args.image_repository,
        webhook_cert=args.webhook_cert,
    )
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    agent.run()


if __name__ == "__main__":
    main()
