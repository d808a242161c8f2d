#!/usr/bin/env bash
# Builds Helm, which the chart's tests run (`helm lint`, `helm template`, `helm install`).
#
# No registry here serves a Helm binary, but the Go module proxy serves Helm's source:
# a plain `go install` builds it (its go.mod has no replace lines). The -X flags are the
# ones Helm's own Makefile sets: without them `helm version` says "v3.22" and Helm assumes
# Kubernetes 1.20 for `helm template` and `helm lint`. The destination is $HELM_DIR, by
# default the project's cache ~/.cache/webhook-cert-operator/helm/, where the tests look
# for it (or set HELM). Nothing is done when that Helm is already there. About 2.5 minutes
# cold on 2 cores (426 MB of modules, 719 MB of build cache). Prints the binary's path.
set -euo pipefail

version="${HELM_VERSION:-v3.22.0}"
dest="${HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/webhook-cert-operator/helm}"
if [ -x "$dest/helm" ] && [ "$("$dest/helm" version --short 2>/dev/null)" = "$version" ]; then
  echo "$dest/helm"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "install-helm: needs Go 1.25 or newer on PATH" >&2
  exit 1
fi

mkdir -p "$dest"
ldflags="-X helm.sh/helm/v3/internal/version.version=${version}"
# The Kubernetes version Helm assumes when no cluster is asked (template, lint): the
# client-go minor Helm v3.22 is built on.
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=37"
done
GOBIN="$dest" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@${version}"
"$dest/helm" version --short >&2
echo "$dest/helm"
