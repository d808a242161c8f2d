# syntax=docker/dockerfile:1
# webhook-cert-operator: two images from one build.
#
#   docker build -t webhook-cert-operator:0.1.0 .                        (or: make image)
#   docker build --target solver -t webhook-cert-solver:0.1.0 .
#
# The default (last) stage is the operator (`webhook-cert run`). The `solver` stage is the
# image of the HTTP-01 solver Pods (`webhook-cert solve`, WEBHOOK_CERT_SOLVER_IMAGE): the
# same package without any of its dependencies, on a distroless Python, since the
# challenge server needs only the standard library (the `kubernetes` client alone is over
# 120 MB).
#
# Platforms: linux/amd64 is what is built and run here. Every dependency has wheels for
# linux/arm64 too and the package is pure Python, so `docker buildx build --platform
# linux/amd64,linux/arm64` should work; it has not been run.
#
# The base is pinned by tag. Pin it by digest as well for reproducible builds
# (python:3.11-slim-bookworm@sha256:<digest>, from `docker buildx imagetools inspect`):
# the digest could not be looked up where this file was written, so none is given here
# rather than an unchecked one.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The solver's base: Python 3.11 as Debian 12 ships it, and nothing else. Not pinned by
# digest either, for the same reason.
ARG SOLVER_BASE_IMAGE=gcr.io/distroless/python3-debian12:nonroot

# ---- build: the project and its dependencies as wheels, installed into a venv ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The dependencies, locked with their hashes (requirements/operator.txt, `make lock`): pip
# refuses any file whose hash is not listed. Every one ships binary wheels (for linux/amd64
# and linux/arm64), so the build stage needs no compiler either.
COPY requirements/operator.txt requirements.txt
RUN pip wheel --wheel-dir /wheels --require-hashes --only-binary=:all: -r requirements.txt
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The package itself, without resolving anything again; installed from /wheels alone, so the
# venv holds exactly the locked versions. The venv gets no pip of its own: it would be dead
# weight at runtime.
# The bytecode is compiled again, valid by its presence alone (unchecked-hash, PEP 552):
# pip's .pyc files record their source's mtime, and in the built image (COPY --from, then
# the export) those mtimes came out whole seconds off, so Python found all 400 .pyc files
# of the dependencies stale and, the root being read-only, compiled them again at every
# start. Compiling the kubernetes client's 4 MB core_v1_api.py alone left 64 MiB of freed
# but resident heap: the operator idled at 170 MiB in its Pod instead of about 110.
RUN pip wheel --wheel-dir /wheels --no-deps . \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-index --find-links /wheels \
        webhook-cert-operator \
 && /opt/venv/bin/python -m compileall -q -f --invalidation-mode unchecked-hash \
        /opt/venv/lib \
 && /opt/venv/bin/webhook-cert --help > /dev/null

# ---- solver: the package alone, for `webhook-cert solve` ------------------------------
FROM ${PYTHON_IMAGE} AS solver-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# --no-deps: kopf, kubernetes, acme, cryptography stay out (the only thing fetched is the
# build backend, setuptools); this stage does not use `build`, so `--target solver` builds
# without resolving the operator's dependencies. The package goes to a plain directory on
# PYTHONPATH and `webhook-cert` is a two-line script for the base's /usr/bin/python3 (the
# solver Pod's command; the base has no pip to make one). The last line proves that the
# solver starts without the operator's dependencies.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --no-deps --no-index --find-links /wheels --target /opt/solver/lib \
        webhook-cert-operator \
 && rm -rf /opt/solver/lib/bin \
 && mkdir -p /opt/solver/bin \
 && printf '#!/usr/bin/python3\nimport sys\nfrom webhook_cert_operator.__main__ import main\nsys.exit(main())\n' \
        > /opt/solver/bin/webhook-cert \
 && chmod 0755 /opt/solver/bin/webhook-cert \
 && PYTHONPATH=/opt/solver/lib python /opt/solver/bin/webhook-cert solve --help > /dev/null

# Distroless: Debian 12's Python 3.11 and the C libraries it needs, no shell, no package
# manager, uid 65532 "nonroot" (about 50 MB against about 130 MB for python:3.11-slim).
FROM ${SOLVER_BASE_IMAGE} AS solver
COPY --from=solver-build /opt/solver /opt/solver
ENV PATH=/opt/solver/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONPATH=/opt/solver/lib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8089
ENTRYPOINT ["webhook-cert"]
CMD ["solve"]

# ---- runtime: the venv on the same base, nothing else -----------------------------------
FROM ${PYTHON_IMAGE} AS operator
# A fixed, unprivileged identity; manifests/deployment.yaml runs as the same uid/gid.
RUN groupadd --system --gid 65532 webhook-cert \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin webhook-cert
COPY --from=build /opt/venv /opt/venv
# The root filesystem is read-only in the cluster: no bytecode written at runtime (pip
# compiled it at install time), output unbuffered so that logs appear at once.
# MALLOC_ARENA_MAX: glibc gives each thread that allocates while the others hold theirs
# a malloc arena of its own, up to 8 per CPU the container sees (the node's, not its
# limit's); the operator's 80 worker threads held 16 arenas and 21 MiB on a 2-CPU node,
# and would hold more on a bigger one. Two arenas are plenty for threads that mostly
# wait on the network.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
USER 65532:65532
# 8080 metrics, 8081 kopf liveness, 8089 the HTTP-01 answers (WEBHOOK_CERT_SOLVER_ADDRESS).
EXPOSE 8080 8081 8089
ENTRYPOINT ["webhook-cert"]
CMD ["run"]
