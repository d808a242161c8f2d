# syntax=docker/dockerfile:1
# webhook-cert-operator: one image for the operator (`webhook-cert run`, the default) and
# for its HTTP-01 solver Pods (`webhook-cert solve`).
#
#   docker build -t webhook-cert-operator:0.1.0 .      (or: make image)
#
# The base is pinned by tag. Pin it by digest as well for reproducible builds
# (python:3.11-slim-bookworm@sha256:<digest>, from `docker buildx imagetools inspect`):
# the digest could not be looked up where this file was written, so none is given here
# rather than an unchecked one.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the project and its dependencies as wheels, installed into a venv ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# Every dependency ships binary wheels (checked for linux/amd64), so the build stage needs no
# compiler either. The venv gets no pip of its own: it would be dead weight at runtime.
RUN pip wheel --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-index --find-links /wheels \
        webhook-cert-operator \
 && /opt/venv/bin/webhook-cert --help > /dev/null

# ---- runtime: the venv on the same base, nothing else -----------------------------------
FROM ${PYTHON_IMAGE}
# A fixed, unprivileged identity; manifests/deployment.yaml runs as the same uid/gid.
RUN groupadd --system --gid 65532 webhook-cert \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin webhook-cert
COPY --from=build /opt/venv /opt/venv
# The root filesystem is read-only in the cluster: no bytecode written at runtime (pip
# compiled it at install time), output unbuffered so that logs appear at once.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
# 8080 metrics, 8081 kopf liveness (operator); 8089 the solver's HTTP server.
EXPOSE 8080 8081 8089
ENTRYPOINT ["webhook-cert"]
CMD ["run"]
