#!/usr/bin/env bash
# `make e2e-kind`: the integration suite on a kind cluster, for hosts with a Docker engine.
#
#   e2e/kind/run.sh [all]   up, then test; the cluster is deleted at the end unless KEEP=1
#   e2e/kind/run.sh up      create the cluster, load the image, install Traefik, Pebble, the operator
#   e2e/kind/run.sh test    run tests/integration in external mode (extra arguments go to pytest)
#   e2e/kind/run.sh down    delete the cluster and the files made for it
#   e2e/kind/run.sh env     print the tests' environment (what `up` writes to .kind/env)
#   e2e/kind/run.sh pki DIR make Pebble's CA and HTTPS certificate in DIR (what `up` does)
#
# Needs docker, kind, kubectl, openssl, curl and `make install` (the .venv). Everything the
# tests need is exported from .kind/env: `source .kind/env` to run pytest by hand (KEEP=1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CLUSTER=${KIND_CLUSTER_NAME:-webhook-cert-e2e}
STATE=${E2E_KIND_STATE:-$REPO/.kind}
# The image the overlay deploys (manifests/kustomization.yaml's `images:`), not a setting.
IMAGE=webhook-cert-operator:0.1.0
SOLVER_IMAGE=webhook-cert-solver:0.1.0
KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
VENV=${VENV:-$REPO/.venv}
OVERLAY=$HERE/overlay
export KUBECONFIG=$STATE/kubeconfig

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'e2e-kind: %s\n' "$*" >&2; exit 1; }
k() { "$KUBECTL" "$@"; }

# Retry a command every 2 s until it succeeds or $1 seconds have passed.
retry() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

preflight() {
  local tool
  for tool in docker "$KIND" "$KUBECTL" openssl curl; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
  done
  docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
  [ -x "$VENV/bin/pytest" ] || die "$VENV has no pytest: run make install"
}

# Pebble's HTTPS certificate, from a CA made for this cluster alone. It names Pebble as the
# operator reaches it (its Service's DNS names) and as the host reaches it (127.0.0.1), and
# has the extensions strict verifiers want (Python 3.13's VERIFY_X509_STRICT among them).
make_pebble_pki() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:pebble.pebble.svc.cluster.local, DNS:pebble.pebble.svc, DNS:localhost, IP:127.0.0.1
EOF
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -config "$dir/openssl.cnf" -extensions ca -days 30 \
    -subj "/CN=webhook-cert e2e Pebble CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -new "${ec[@]}" -config "$dir/openssl.cnf" -subj "/CN=pebble" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 \
    -extfile "$dir/openssl.cnf" -extensions leaf -out "$dir/tls.crt" 2>/dev/null
}

# What tests/integration/conftest.py reads in external mode, as shell exports. ACME_SERVER,
# CA_BUNDLE and NAMESERVERS are the host's view; the operator's own is in the overlay.
test_env() {
  printf 'export %s=%q\n' \
    KUBECONFIG "$KUBECONFIG" \
    WEBHOOK_CERT_TEST_CLUSTER external \
    WEBHOOK_CERT_TEST_OPERATOR_OVERLAY "$OVERLAY" \
    WEBHOOK_CERT_ACME_SERVER https://127.0.0.1:14000/dir \
    WEBHOOK_CERT_ACME_CA_BUNDLE "$STATE/pki/ca.crt" \
    WEBHOOK_CERT_ACME_AGREE_TOS true \
    WEBHOOK_CERT_TEST_PEBBLE_ROOTS "$STATE/pebble-roots.pem" \
    WEBHOOK_CERT_TEST_PEBBLE_MANAGEMENT https://127.0.0.1:15000 \
    WEBHOOK_CERT_NAMESERVERS 127.0.0.1:8053 \
    WEBHOOK_CERT_TEST_INGRESS_CLASS traefik \
    WEBHOOK_CERT_TEST_INGRESS_ADDRESS 127.0.0.1
}

# The host's view works: the DNS answers 127.0.0.1 and port 80 reaches Traefik (its 404
# for a host no Ingress names).
host_view_works() {
  "$VENV/bin/python" - 2>/dev/null <<'EOF'
import dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers, resolver.port = ["127.0.0.1"], 8053
answer = [a.to_text() for a in resolver.resolve("probe.e2e.test", "A")]
assert answer == ["127.0.0.1"], answer
EOF
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: probe.e2e.test' http://127.0.0.1/)" = 404 ]
}

up() {
  preflight
  mkdir -p "$STATE"
  # First, so that a broken build fails before a cluster is made.
  log "building $IMAGE"
  make -C "$REPO" image IMAGE="$IMAGE" SOLVER_IMAGE="$SOLVER_IMAGE"
  if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    log "kind cluster $CLUSTER exists; reusing it"
    "$KIND" export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
  else
    log "creating kind cluster $CLUSTER"
    "$KIND" create cluster --name "$CLUSTER" --config "$HERE/kind-config.yaml" \
      --kubeconfig "$KUBECONFIG" --wait 180s
  fi

  log "loading $IMAGE and $SOLVER_IMAGE into the node"
  "$KIND" load docker-image "$IMAGE" "$SOLVER_IMAGE" --name "$CLUSTER"

  log "installing Traefik, Pebble and its DNS"
  [ -s "$STATE/pki/tls.crt" ] || make_pebble_pki "$STATE/pki"
  cp "$STATE/pki/ca.crt" "$OVERLAY/pebble-ca.pem"
  k apply -f "$HERE/traefik.yaml" -f "$HERE/pebble.yaml"
  k -n pebble create secret tls pebble-tls --cert "$STATE/pki/tls.crt" \
    --key "$STATE/pki/tls.key" --dry-run=client -o yaml | k apply -f -
  k -n traefik rollout status deployment/traefik --timeout=180s
  k -n pebble rollout status deployment/pebble --timeout=180s
  k -n pebble rollout status deployment/challtestsrv --timeout=180s

  log "checking the host's view: Pebble, DNS and ingress on 127.0.0.1"
  retry 60 curl -sf --cacert "$STATE/pki/ca.crt" -o /dev/null https://127.0.0.1:14000/dir \
    || die "Pebble's directory is not reachable at https://127.0.0.1:14000/dir"
  curl -sf --cacert "$STATE/pki/ca.crt" -o "$STATE/pebble-roots.pem" \
    https://127.0.0.1:15000/roots/0
  grep -q 'BEGIN CERTIFICATE' "$STATE/pebble-roots.pem" || die "no root from /roots/0"
  retry 60 host_view_works || die "DNS on 127.0.0.1:8053 or Traefik on 127.0.0.1:80 fails"

  log "installing the operator from $OVERLAY"
  # CRDs first: the peering object cannot be applied in the same run as its CRD.
  k apply -k "$OVERLAY" -l app.kubernetes.io/component=crd
  k wait --for=condition=Established --timeout=60s crd -l app.kubernetes.io/component=crd
  k apply -k "$OVERLAY"
  k -n webhook-cert-system rollout status deployment/webhook-cert-operator --timeout=180s

  test_env >"$STATE/env"
  log "ready; the tests' environment is in $STATE/env"
}

run_tests() {
  [ -s "$STATE/env" ] || die "no $STATE/env: run '$0 up' first"
  # shellcheck source=/dev/null
  source "$STATE/env"
  # conftest.py runs `kubectl` from PATH.
  PATH=$(dirname "$(command -v "$KUBECTL")"):$PATH
  log "running tests/integration in external mode"
  (cd "$REPO" && "$VENV/bin/pytest" tests/integration "$@")
}

# What to look at when something failed, printed before the cluster goes away.
diagnose() {
  [ -s "$KUBECONFIG" ] || return 0
  k get pods -A -o wide || true
  k get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 40 || true
  local target
  for target in traefik/deployment/traefik pebble/deployment/pebble \
    pebble/deployment/challtestsrv webhook-cert-system/deployment/webhook-cert-operator; do
    log "logs of $target"
    k -n "${target%%/*}" logs "${target#*/}" --all-containers --tail=100 || true
  done
}

down() {
  log "deleting kind cluster $CLUSTER"
  "$KIND" delete cluster --name "$CLUSTER" || true
  rm -rf "$STATE" "$OVERLAY/pebble-ca.pem"
}

# On exit: show what failed, then delete the cluster unless KEEP=1.
finish() {
  local status=$?
  [ "$status" -eq 0 ] || diagnose
  [ "${KEEP:-0}" = 1 ] || down
  return "$status"
}

all() {
  trap finish EXIT
  up
  run_tests "$@"
}

command=${1:-all}
[ $# -eq 0 ] || shift
case $command in
  all) all "$@" ;;
  up) up ;;
  test) run_tests "$@" ;;
  down) down ;;
  env) test_env ;;
  pki) make_pebble_pki "${1:?pki needs a directory}" ;;
  *) die "unknown command '$command' (all, up, test, down, env, pki)" ;;
esac
