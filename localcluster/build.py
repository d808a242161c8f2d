"""Build the local cluster's components from the Go module proxy, once, into a cache.

Several components (Kubernetes, etcd, Traefik) cannot be `go install`ed at a version because
their go.mod has `replace` lines. For each we generate a small wrapper module that requires
the component and repeats its replacements: a local-path replacement (Kubernetes' staging
repositories, etcd's sibling modules) becomes the published module at `staging_version`,
a module replacement is copied as it is. The binaries land in
`<cache>/bin/<name>-<version>/`; a component whose binaries exist is not rebuilt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from localcluster.versions import (
    COMPONENTS,
    GATEWAY_API_MODULE,
    GATEWAY_API_VERSION,
    Component,
)

_REPLACE_LINE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+\S+)?\s*=>\s*(\S+)(?:\s+(\S+))?\s*$")


def default_cache_dir() -> Path:
    base = os.environ.get("WEBHOOK_CERT_CLUSTER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "webhook-cert-operator",
    )
    return Path(base) / "localcluster"


def bin_dir(component: Component, cache_dir: Path) -> Path:
    return cache_dir / "bin" / f"{component.name}-{component.version}"


def is_built(component: Component, cache_dir: Path) -> bool:
    directory = bin_dir(component, cache_dir)
    return all((directory / name).is_file() for name in component.binaries)


def upstream_replacements(go_mod: str, staging_version: str) -> list[str]:
    """Translate the upstream go.mod's replace directives for a wrapper module."""
    lines: list[str] = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("replace ("):
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if not (in_block or line.startswith("replace ")):
            continue
        match = _REPLACE_LINE.match(line)
        if not match:
            continue
        old, new, new_version = match.groups()
        if new.startswith((".", "/")):
            if "FORBIDDEN" in new:  # etcd marks modules that must never be depended on
                continue
            lines.append(f"replace {old} => {old} {staging_version}")
        else:
            lines.append(f"replace {old} => {new} {new_version or ''}".rstrip())
    return lines


def _go_directive(go_mod: str) -> str:
    match = re.search(r"^go\s+(\S+)", go_mod, re.MULTILINE)
    return match.group(1) if match else "1.25"


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    return env


def _run(args: list[str], cwd: Path, log: Path) -> str:
    with log.open("a") as out:
        out.write(f"$ {' '.join(args)}\n")
        out.flush()
        result = subprocess.run(
            args, cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=out, text=True
        )
    if result.returncode != 0:
        tail = log.read_text().splitlines()[-25:]
        raise SystemExit(f"build failed: {' '.join(args)}\n" + "\n".join(tail))
    return result.stdout


def download_module(module: str, version: str, cwd: Path, log: Path) -> dict[str, str]:
    """`go mod download -json`: where the module's files and go.mod are (Dir, GoMod)."""
    info: dict[str, str] = json.loads(
        _run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd, log)
    )
    return info


def write_wrapper_module(component: Component, source_dir: Path, log: Path) -> None:
    source_dir.mkdir(parents=True, exist_ok=True)
    info = download_module(component.module, component.version, source_dir, log)
    upstream = Path(info["GoMod"]).read_text()
    module_name = f"localcluster.invalid/{component.name}"
    go_mod = [
        f"module {module_name}",
        "",
        f"go {_go_directive(upstream)}",
        "",
        f"require {component.module} {component.version}",
        "",
        *upstream_replacements(upstream, component.staging_version),
        "",
    ]
    (source_dir / "go.mod").write_text("\n".join(go_mod))
    imports = "\n".join(f'\t_ "{package}"' for package in component.packages)
    (source_dir / "tools.go").write_text(
        f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"
    )


def build(component: Component, cache_dir: Path) -> Path:
    target = bin_dir(component, cache_dir)
    if is_built(component, cache_dir):
        return target
    source_dir = cache_dir / "src" / f"{component.name}-{component.version}"
    log = cache_dir / "logs" / f"build-{component.name}-{component.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"building {component.name} {component.version} (log: {log})", flush=True)
    write_wrapper_module(component, source_dir, log)
    _run(["go", "mod", "tidy"], source_dir, log)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    output = str(staging / component.binary) if component.binary else str(staging) + "/"
    ldflags = " ".join(("-s", "-w", *component.ldflags))
    _run(["go", "build", "-o", output, "-ldflags", ldflags, *component.packages], source_dir, log)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"built {component.name} in {time.monotonic() - started:.0f}s", flush=True)
    return target


def gateway_api_crds(cache_dir: Path) -> Path:
    """The Gateway API's standard-channel CRDs, fetched once from the Go module proxy
    (they ship in the Go module) and kept in the cache."""
    target = cache_dir / "gateway-api" / GATEWAY_API_VERSION
    if target.is_dir() and any(target.glob("*.yaml")):
        return target
    log = cache_dir / "logs" / f"gateway-api-{GATEWAY_API_VERSION}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    work = cache_dir / "src" / "gateway-api"
    work.mkdir(parents=True, exist_ok=True)
    info = download_module(GATEWAY_API_MODULE, GATEWAY_API_VERSION, work, log)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for crd in sorted((Path(info["Dir"]) / "config" / "crd" / "standard").glob("*.yaml")):
        if crd.name.startswith("gateway.networking.k8s.io_"):
            shutil.copyfile(crd, staging / crd.name)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def build_all(cache_dir: Path | None = None) -> dict[str, Path]:
    cache_dir = cache_dir or default_cache_dir()
    return {component.name: build(component, cache_dir) for component in COMPONENTS}


if __name__ == "__main__":
    for name, path in build_all().items():
        print(f"{name}: {path}")
    sys.exit(0)
