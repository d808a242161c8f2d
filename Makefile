# The front door: `make demo` and `make test`. Everything else supports them.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
IMAGE   ?= webhook-cert-operator:0.1.0
KUBECTL ?= kubectl

.PHONY: install test unit lint conformance run demo bench cluster-up cluster-down cluster-status image deploy clean

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

## Run the operator against the current kubeconfig (settings: docs/configuration.md).
run: install
	$(VENV)/bin/webhook-cert run

## Start the local cluster, run the operator in the background, issue the example's certificate.
demo: install
	$(PYTHON) -m localcluster.demo

## Benchmarks on the local cluster: apply-to-Ready for 1 endpoint, then 20 at once.
bench: install
	$(PYTHON) -m benchmarks.apply_to_ready 1 20

cluster-up: install
	$(PYTHON) -m localcluster up

cluster-down:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m localcluster down; else python3 -m localcluster down; fi

cluster-status: install
	$(PYTHON) -m localcluster status

## Container image (needs a Docker engine).
image:
	docker build -t $(IMAGE) .

## Install on the current cluster: CRDs first, so that the peering object finds its CRD.
deploy:
	$(KUBECTL) apply -k manifests/ -l app.kubernetes.io/component=crd
	$(KUBECTL) wait --for=condition=Established --timeout=60s crd -l app.kubernetes.io/component=crd
	$(KUBECTL) apply -k manifests/

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
