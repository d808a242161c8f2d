# The front door: `make demo` and `make test`. Everything else supports them.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
IMAGE   ?= webhook-cert-operator:0.1.0
SOLVER_IMAGE ?= webhook-cert-solver:0.1.0
KUBECTL ?= kubectl

.PHONY: install test unit lint conformance run demo bench cluster-up cluster-down cluster-status \
        image deploy release-manifest lock helm promtool clean e2e-kind e2e-kind-down \
        bench-cert-manager

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

## The whole suite: unit tests, then integration tests on the local cluster (started if needed).
test: install
	$(VENV)/bin/pytest

unit: install
	$(VENV)/bin/pytest tests/unit

## The check against OpenSSL, Go and Java clients on the corpus; no cluster (needs go, a JDK).
conformance: install
	$(PYTHON) -m conformance

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=operator $(VENV)/bin/lint-imports

## Run the operator against the current kubeconfig (settings: docs/configuration.md).
run: install
	$(VENV)/bin/webhook-cert run

## Start the local cluster, run the operator in the background, issue the example's certificate.
demo: install
	$(PYTHON) -m localcluster.demo

## Benchmarks on the local cluster (started if needed), each beside a baseline
## measured in the same run: latency and API writes, a burst of 100, memory, politeness,
## served-chain check rate. Prints figures and one summary table; asserts nothing.
## Parts: `make bench PARTS="burst latency"`, or `python -m benchmarks --help`.
bench: install
	$(PYTHON) -m benchmarks $(PARTS)

## webhook-cert-operator and cert-manager side by side: 1 name, then BURST at once. Needs
## cert-manager's images on the node (it says how, and skips, when they are not).
BURST ?= 100
bench-cert-manager: install
	$(PYTHON) -m benchmarks.cert_manager --burst $(BURST)

cluster-up: install
	$(PYTHON) -m localcluster up

cluster-down:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m localcluster down; else python3 -m localcluster down; fi

cluster-status: install
	$(PYTHON) -m localcluster status

## The image's dependencies locked with hashes (the Dockerfile installs them with
## --require-hashes). Run after changing pyproject.toml's dependencies.
lock: install
	$(VENV)/bin/pip install --quiet pip-tools
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	  --no-header --no-emit-find-links --output-file operator.txt ../pyproject.toml

## Helm, for the chart's tests (tests/unit/test_chart.py, tests/integration/test_helm.py):
## built from the Go module proxy into ~/.cache/webhook-cert-operator/helm/.
helm:
	tools/install-helm.sh

## promtool for the alert rule tests (tests/unit/test_monitoring.py), from Debian's package.
promtool:
	tools/install-promtool.sh

## Container images (the operator's, and the solver's from the Dockerfile's `solver` stage):
## with Docker where a Docker engine runs, otherwise with buildah into the local cluster's
## image cache (docker-archives that `ctr images import` or `docker load` reads).
image:
	@if docker info >/dev/null 2>&1; then docker build -t $(IMAGE) . \
	  && docker build --target solver -t $(SOLVER_IMAGE) .; \
	else $(MAKE) install && $(PYTHON) -m localcluster image; fi

## Install on the current cluster in one apply, then wait until WebhookEndpoints can be created.
deploy:
	$(KUBECTL) apply -k manifests/
	$(KUBECTL) wait --for=condition=Established --timeout=60s crd -l app.kubernetes.io/component=crd

## The release manifest: the kustomize base rendered into one file (checked by a unit test).
release-manifest: install
	$(PYTHON) -m tools.install_manifest

## The integration suite on a kind cluster, where Docker exists (needs kind and kubectl too):
## e2e/kind/run.sh. The cluster is deleted at the end; KEEP=1 keeps it (`source .kind/env`
## to run tests against it, `make e2e-kind-down` to delete it).
e2e-kind: install
	KUBECTL=$(KUBECTL) VENV=$(abspath $(VENV)) e2e/kind/run.sh all

e2e-kind-down:
	KUBECTL=$(KUBECTL) e2e/kind/run.sh down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
