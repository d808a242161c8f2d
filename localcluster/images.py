"""Container images for the local node, built without a registry or a Docker engine.

buildah builds the operator image and the solver image (the Dockerfile's `solver` stage) from
the project's own Dockerfile (chroot isolation, vfs storage, all of it under the cache
directory) and writes each as a docker-archive that containerd imports. Where the
Dockerfile's base image cannot be pulled (this machine reaches no container registry), a
stand-in with the same name is made from Debian
packages with debootstrap: Debian's Python 3.11 instead of the official image's. The
kubelet's sandbox ("pause") image is a small static Go program.

Every image is cached by a hash of its inputs: the operator and solver images are rebuilt
when the Dockerfile, pyproject.toml, README.md, the lock in requirements/ or anything under
operator/ changes, and their tags carry that hash, so a Deployment that names the new tag
rolls out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster.network import in_host_network

REPO_ROOT = Path(__file__).resolve().parent.parent
OPERATOR_REPOSITORY = "webhook-cert-operator"
SOLVER_REPOSITORY = "webhook-cert-solver"
OPERATOR_VERSION = "0.1.0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
# The Dockerfile's default base (its ARG PYTHON_IMAGE), under the name buildah resolves it to.
BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
# The Dockerfile's solver base (its ARG SOLVER_BASE_IMAGE), a distroless Python: the stand-in
# holds the files of these Debian packages and nothing else (no shell, no dpkg, no apt), as
# distroless itself is made, plus its /etc/passwd with uid 65532 "nonroot".
SOLVER_BASE_IMAGE = "gcr.io/distroless/python3-debian12:nonroot"
SOLVER_BASE_PACKAGES = (
    "libc6",
    "libgcc-s1",
    "libssl3",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
    "libcrypt1",
    "libuuid1",
    "libsqlite3-0",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11-minimal",
    "python3-minimal",
    "ca-certificates",
    "netbase",
    "tzdata",
)
_DISTROLESS_PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
_DISTROLESS_GROUP = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
# Files of the host's own trust store additions (a TLS-inspecting egress proxy's CA, say):
# pip inside the build must trust the same CAs as pip on the host to reach the index.
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_OPERATOR_INPUTS = ("Dockerfile", "pyproject.toml", "README.md", "operator", "requirements")

_PAUSE_SOURCE = """package main

// The pod sandbox's only process: it holds the Pod's namespaces and reaps nothing else.
import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\t<-stop
}
"""


class ImageBuildError(RuntimeError):
    """An image could not be built; the message names the step and its log."""


@dataclass(frozen=True)
class BuiltImage:
    """An image written as a docker-archive, ready for `ctr images import`."""

    name: str  # as containerd stores it: docker.io/library/NAME:TAG, registry.k8s.io/...
    archive: Path


def hash_tree(root: Path, entries: Iterable[str]) -> str:
    """A content hash of files and directories below `root` (paths, modes, contents).

    Bytecode caches, egg-info and editor droppings are left out: the build ignores them.
    """
    digest = hashlib.sha256()
    for entry in sorted(entries):
        path = root / entry
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root).as_posix()
            if (
                "__pycache__" in relative
                or ".egg-info" in relative
                or relative.endswith((".pyc", "~"))
            ):
                continue
            digest.update(relative.encode() + b"\0")
            digest.update(str(file.stat().st_mode & 0o111).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def operator_tag(source_hash: str) -> str:
    return f"{OPERATOR_VERSION}-{source_hash[:12]}"


def operator_image_name(source_hash: str, repository: str = OPERATOR_REPOSITORY) -> str:
    """The short name a Pod spec uses; containerd stores it under docker.io/library/.
    The solver image (SOLVER_REPOSITORY) carries the same tag: both come from one source."""
    return f"{repository}:{operator_tag(source_hash)}"


class ImageBuilder:
    """Builds into `<cache>/images/`: buildah's storage, archives and debootstrap's work."""

    def __init__(self, cache_dir: Path, log_dir: Path) -> None:
        self.directory = cache_dir / "images"
        self.log_dir = log_dir

    @property
    def _storage(self) -> list[str]:
        return [
            f"--root={self.directory / 'storage'}",
            f"--runroot={self.directory / 'runroot'}",
            "--storage-driver=vfs",
        ]

    def build_all(self) -> list[BuiltImage]:
        """pause, solver, operator: the operator last (the harness deploys images[-1])."""
        pause = self.pause()
        operator = self.operator()
        return [pause, self.solver(), operator]

    # ---- pause ----------------------------------------------------------------------

    def pause(self) -> BuiltImage:
        archive = self.directory / f"pause-{_short(_PAUSE_SOURCE)}.tar"
        if not archive.exists():
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="pause-") as work:
                source = Path(work) / "main.go"
                source.write_text(_PAUSE_SOURCE)
                binary = Path(work) / "pause"
                env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
                self._run(
                    ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "main.go"],
                    "pause",
                    cwd=Path(work),
                    env=env,
                )
                self._commit_rootfs(Path(work), PAUSE_IMAGE, entrypoint='["/pause"]', only="pause")
            self._export(PAUSE_IMAGE, archive)
            print(f"built the pause image in {time.monotonic() - started:.0f}s", flush=True)
        return BuiltImage(PAUSE_IMAGE, archive)

    # ---- operator -------------------------------------------------------------------

    def operator(self) -> BuiltImage:
        return self._from_dockerfile(OPERATOR_REPOSITORY, target="operator", prefix="operator-")

    def solver(self) -> BuiltImage:
        """The HTTP-01 solver Pods' image: the Dockerfile's `solver` stage."""
        return self._from_dockerfile(SOLVER_REPOSITORY, target="solver", prefix="solver-")

    def _from_dockerfile(self, repository: str, *, target: str, prefix: str) -> BuiltImage:
        source_hash = hash_tree(REPO_ROOT, _OPERATOR_INPUTS)
        short_name = operator_image_name(source_hash, repository)
        archive = self.directory / f"{prefix}{operator_tag(source_hash)}.tar"
        if not archive.exists():
            started = time.monotonic()
            self._ensure_base()
            if target == "solver":
                self._ensure_solver_base()
            print(f"building {short_name} from the Dockerfile (stage {target})", flush=True)
            self._buildah(
                "build",
                "--isolation=chroot",
                "--pull=never",
                f"--target={target}",
                "-t",
                short_name,
                str(REPO_ROOT),
                step=f"{target}-image",
            )
            self._export(short_name, archive)
            # The archive is what the node imports; buildah's copy is not needed again.
            self._buildah("rmi", short_name, step="export")
            self._prune_archives(prefix, keep=archive)
            print(f"built {short_name} in {time.monotonic() - started:.0f}s", flush=True)
        return BuiltImage(f"docker.io/library/{short_name}", archive)

    def _ensure_base(self) -> None:
        """The Dockerfile's base under its own name, made from Debian packages."""
        if self._has_image(BASE_IMAGE):
            return
        print(f"making a stand-in for {BASE_IMAGE} with debootstrap", flush=True)
        rootfs = self.directory / "base-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        self._debootstrap(rootfs, BASE_PACKAGES, "base-debootstrap")
        self._trust_host_cas(rootfs)
        for leftover in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(rootfs / leftover, ignore_errors=True)
            (rootfs / leftover).mkdir(parents=True, exist_ok=True)
        self._commit_rootfs(rootfs, BASE_IMAGE, entrypoint=None, only=None)
        shutil.rmtree(rootfs, ignore_errors=True)

    def _debootstrap(self, rootfs: Path, packages: Sequence[str], step: str) -> None:
        """A minimal Debian root filesystem with `packages`, in the host's network."""
        self._run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            step,
        )

    def _ensure_solver_base(self) -> None:
        """The solver's distroless base under its own name, from Debian packages' files."""
        if self._has_image(SOLVER_BASE_IMAGE):
            return
        print(f"making a stand-in for {SOLVER_BASE_IMAGE} from Debian packages", flush=True)
        work = self.directory / "solver-base-work"
        shutil.rmtree(work, ignore_errors=True)
        full, slim = work / "full", work / "rootfs"
        self._debootstrap(full, SOLVER_BASE_PACKAGES, "solver-base-debootstrap")
        listed = self._run(
            ["chroot", str(full), "dpkg", "-L", *SOLVER_BASE_PACKAGES], "solver-base-debootstrap"
        )
        paths = {
            line.lstrip("/")
            for line in listed.splitlines()
            if line.startswith("/") and not line.startswith(("/usr/share/doc", "/usr/share/man"))
        }
        # Made by the packages' scripts rather than shipped: the CA bundle.
        paths.add("etc/ssl/certs/ca-certificates.crt")
        # Debian 12 merges /usr: packages name /lib/..., the files are in /usr/lib/...; keep
        # the top-level links and store each file once, under its real directory.
        links = {top for top in ("bin", "sbin", "lib", "lib64") if (full / top).is_symlink()}
        real = set(links)
        for path in paths:
            top, _, rest = path.partition("/")
            real.add(f"usr/{top}/{rest}" if top in links and rest else path)
        # Every parent directory too, so that each entry's directory exists when extracted.
        for path in list(real):
            parent = Path(path).parent
            while str(parent) not in (".", ""):
                real.add(str(parent))
                parent = parent.parent
        present = sorted(p for p in real if (full / p).exists() or (full / p).is_symlink())
        file_list = work / "files"
        file_list.write_text("\n".join(present) + "\n")
        slim.mkdir(parents=True)
        self._run(
            [
                "sh",
                "-c",
                f'tar -C "{full}" --no-recursion -cf - -T "{file_list}" | tar -C "{slim}" -xpf -',
            ],
            "solver-base-debootstrap",
        )
        (slim / "etc").mkdir(exist_ok=True)
        (slim / "etc/passwd").write_text(_DISTROLESS_PASSWD)
        (slim / "etc/group").write_text(_DISTROLESS_GROUP)
        (slim / "tmp").mkdir(exist_ok=True)
        os.chmod(slim / "tmp", 0o1777)
        (slim / "home/nonroot").mkdir(parents=True, exist_ok=True)
        os.chown(slim / "home/nonroot", 65532, 65532)
        self._commit_rootfs(
            slim, SOLVER_BASE_IMAGE, entrypoint='["/usr/bin/python3.11"]', only=None
        )
        shutil.rmtree(work, ignore_errors=True)

    def _trust_host_cas(self, rootfs: Path) -> None:
        extra = sorted(HOST_EXTRA_CAS.glob("*.crt")) if HOST_EXTRA_CAS.is_dir() else []
        if not extra:
            return
        target = rootfs / "usr/local/share/ca-certificates"
        target.mkdir(parents=True, exist_ok=True)
        for certificate in extra:
            shutil.copy2(certificate, target / certificate.name)
        self._run(["chroot", str(rootfs), "update-ca-certificates"], "base-debootstrap")
        (rootfs / "etc/pip.conf").write_text(
            "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
        )

    # ---- buildah helpers ------------------------------------------------------------

    def _commit_rootfs(
        self, directory: Path, name: str, *, entrypoint: str | None, only: str | None
    ) -> None:
        """One layer from `directory` (or just its file `only`), committed as `name`."""
        with tempfile.TemporaryDirectory(dir=self.directory) as work:
            layer = Path(work) / "layer.tar"
            members = [only] if only else ["."]
            self._run(
                ["tar", "--numeric-owner", "-C", str(directory), "-cf", str(layer), *members],
                "commit",
            )
            container = self._buildah("from", "--pull=never", "scratch", step="commit").strip()
            try:
                self._buildah("add", container, str(layer), "/", step="commit")
                config = ["--env", f"PATH={_PATH}"]
                if entrypoint:
                    config += ["--entrypoint", entrypoint]
                self._buildah("config", *config, container, step="commit")
                self._buildah("commit", container, name, step="commit")
            finally:
                self._buildah("rm", container, step="commit")

    def _export(self, name: str, archive: Path) -> None:
        partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        self._buildah("push", name, f"docker-archive:{partial}:{name}", step="export")
        partial.rename(archive)

    def _has_image(self, name: str) -> bool:
        try:
            return bool(self._buildah("images", "--quiet", name, step="images").strip())
        except ImageBuildError:
            return False

    def _prune_archives(self, prefix: str, keep: Path) -> None:
        prune_archives(self.directory, prefix, keep=keep, now=time.time())

    def _buildah(self, *args: str, step: str) -> str:
        """buildah with all of its state under the cache directory.

        It would otherwise write a CNI lock under /etc/cni and a blob cache under
        /var/lib/containers despite --root: its network config dir is set through
        containers.conf, and /var/lib is a scratch directory in a private mount namespace.
        """
        scratch = self.directory / "var-lib"
        scratch.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "containers.conf"
        conf.write_text(f'[network]\nnetwork_config_dir = "{self.directory / "cni"}"\n')
        return self._run(
            [
                "unshare",
                "--mount",
                "--propagation=private",
                "sh",
                "-c",
                f'mount --bind "{scratch}" /var/lib && exec "$@"',
                "sh",
                "buildah",
                *self._storage,
                *args,
            ],
            step,
            env={**os.environ, "CONTAINERS_CONF": str(conf)},
        )

    def _run(
        self,
        argv: Sequence[str],
        step: str,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"image-{step}.log"
        with log.open("a") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            # In the host's network even when the caller already entered the cluster's:
            # the Dockerfile's pip and debootstrap reach their package indexes.
            result = subprocess.run(
                in_host_network(list(argv)),
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
            )
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise ImageBuildError(f"{step}: {' '.join(argv[:3])} failed (log: {log}):\n{tail}")
        return result.stdout


# The cache is shared by every checkout on the machine: an archive another checkout built
# minutes ago may be about to be imported by it, so only archives untouched this long go.
PRUNE_AFTER_SECONDS = 6 * 3600


def prune_archives(directory: Path, prefix: str, *, keep: Path, now: float) -> list[Path]:
    """Delete the older image archives of one kind (`prefix`), except `keep` and any
    written in the last PRUNE_AFTER_SECONDS; return what was deleted."""
    deleted = []
    for old in sorted(directory.glob(f"{prefix}*.tar")):
        if old != keep and now - old.stat().st_mtime > PRUNE_AFTER_SECONDS:
            old.unlink(missing_ok=True)
            deleted.append(old)
    return deleted


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
