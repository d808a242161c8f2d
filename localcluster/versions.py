"""The one place where the local cluster's component versions are pinned.

Each component is built from the Go module proxy through a generated wrapper module (see
`build.py`). `staging_version` is the version that modules replaced by local paths in the
upstream go.mod resolve to: Kubernetes publishes its staging repositories as v0.X.Y for
every v1.X.Y, etcd publishes its sibling modules at the same version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    staging_version: str = ""
    ldflags: tuple[str, ...] = ()
    # Set when a package's directory name is not the binary's name (etcd's is `server/v3`).
    binary: str = ""

    @property
    def binaries(self) -> tuple[str, ...]:
        if self.binary:
            return (self.binary,)
        return tuple(package.rsplit("/", 1)[-1] for package in self.packages)


KUBERNETES_VERSION = "v1.35.4"
# The oldest Kubernetes the README supports (the CRD's CEL `isIP()` needs 1.31): only its
# kube-apiserver is built, for tests/integration/test_lowest_kubernetes.py. The local
# cluster never starts it.
LOWEST_KUBERNETES_VERSION = "v1.31.14"
_K8S_VERSION_PKG = "k8s.io/component-base/version"


def _kubernetes(name: str, version: str, commands: tuple[str, ...]) -> Component:
    return Component(
        name=name,
        module="k8s.io/kubernetes",
        version=version,
        staging_version="v0" + version[2:],
        packages=tuple(f"k8s.io/kubernetes/cmd/{command}" for command in commands),
        # Without these the binaries report v0.0.0-master.
        ldflags=(
            f"-X {_K8S_VERSION_PKG}.gitVersion={version}",
            f"-X {_K8S_VERSION_PKG}.gitMajor=1",
            f"-X {_K8S_VERSION_PKG}.gitMinor={version.split('.')[1]}",
            f"-X k8s.io/client-go/pkg/version.gitVersion={version}",
        ),
    )


COMPONENTS: tuple[Component, ...] = (
    _kubernetes(
        "kubernetes",
        KUBERNETES_VERSION,
        (
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubectl",
            "kubelet",
            "kube-proxy",
        ),
    ),
    _kubernetes("kubernetes-lowest", LOWEST_KUBERNETES_VERSION, ("kube-apiserver",)),
    Component(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version="v3.6.16",
        staging_version="v3.6.16",
        packages=("go.etcd.io/etcd/server/v3",),
        binary="etcd",
    ),
    Component(
        name="traefik",
        module="github.com/traefik/traefik/v3",
        version="v3.6.12",
        packages=("github.com/traefik/traefik/v3/cmd/traefik",),
    ),
    Component(
        name="pebble",
        module="github.com/letsencrypt/pebble/v2",
        version="v2.10.3",
        packages=(
            "github.com/letsencrypt/pebble/v2/cmd/pebble",
            "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv",
        ),
    ),
)

BY_NAME = {component.name: component for component in COMPONENTS}


# The Gateway API CRDs (standard channel) applied to the local cluster, for HTTP-01 through
# an HTTPRoute: the version Traefik v3.6.12's Gateway provider is built on.
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = "v1.4.0"
