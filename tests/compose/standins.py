"""Base images for the compose test: the public ones, or stand-ins built from Debian.

No image registry may be reachable (only Debian's and PyPI's mirrors are). Then the
test builds, from Debian's own packages:

* a Debian bookworm base (`debootstrap --variant=minbase` + `docker import`);
* a Python image on it: Debian's python3 in a venv on PATH, like the official image's
  `python`/`pip`;
* a Redis image on it: Debian's redis-server (and redis-cli, which the health check uses).

Each is tagged by a hash of its recipe and reused while the recipe is unchanged, so only
the first run on a machine pays for it. The host's proxy and CA bundle reach the builds
here, in the test, and never the shipped Dockerfile: proxies as build arguments, the CA
bundle as a layer on top of whichever Python image is used (`with_host_ca`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.compose.docker import Docker

PUBLIC_PYTHON = "python:3.11-slim-bookworm"
PUBLIC_REDIS = "redis:7.2-alpine"
REPO = "mamfast-test-standin"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")

PYTHON_RECIPE = """\
FROM {base}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:$PATH
CMD ["python3"]
"""

REDIS_RECIPE = """\
FROM {base}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
"""

CA_LAYER = """\
FROM {base}
COPY host-ca.pem /usr/local/share/mamfast-test/host-ca.pem
ENV PIP_CERT=/usr/local/share/mamfast-test/host-ca.pem
"""


@dataclass
class Images:
    """What the compose test builds with, and what getting it cost."""

    python: str
    redis: str
    built: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        how = f"built {', '.join(self.built)}" if self.built else "all cached"
        return f"{self.python} + {self.redis} ({how}; {self.seconds:.1f}s)"


def proxy_env() -> dict[str, str]:
    """The host's proxy settings: environment first, else apt's (Acquire::http::Proxy)."""
    found = {k: os.environ[k] for k in PROXY_VARS if os.environ.get(k)}
    if not found and shutil.which("apt-config"):
        out = subprocess.run(
            ["apt-config", "shell", "P", "Acquire::http::Proxy"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        value = out.partition("=")[2].strip().strip("'\"")
        if value:
            found = {"http_proxy": value, "https_proxy": value}
    return found


def proxy_build_args() -> list[str]:
    # Docker's predefined proxy arguments: used by RUN, never kept in the image's history.
    return [f"--build-arg={k}={v}" for k, v in proxy_env().items()]


def host_ca_bundle() -> Path | None:
    """The CA bundle the host's pip uses (`cert` in pip's config), if one is set."""
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    for candidate in (os.environ.get("PIP_CERT"), configured, os.environ.get("SSL_CERT_FILE")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def exists(docker: Docker, image: str) -> bool:
    return docker.run("image", "inspect", image, check=False, timeout=60).returncode == 0


def available(docker: Docker, image: str) -> bool:
    """Present here, or pullable (a failed pull is quick when no registry answers)."""
    if exists(docker, image):
        return True
    return docker.run("pull", image, check=False, timeout=300).returncode == 0


def resolve(docker: Docker, work: Path) -> Images:
    """The Python and Redis images to use, building (or reusing) stand-ins as needed."""
    started = time.monotonic()
    images = Images(python=PUBLIC_PYTHON, redis=PUBLIC_REDIS)
    missing = [name for name in (PUBLIC_PYTHON, PUBLIC_REDIS) if not available(docker, name)]
    if missing:
        base = debian_base(docker, work, images)
        if PUBLIC_PYTHON in missing:
            images.python = from_recipe(docker, "python", PYTHON_RECIPE, base, images)
        if PUBLIC_REDIS in missing:
            images.redis = from_recipe(docker, "redis", REDIS_RECIPE, base, images)
    images.python = with_host_ca(docker, images.python, work)
    images.seconds = time.monotonic() - started
    return images


def debian_base(docker: Docker, work: Path, images: Images) -> str:
    recipe = ("debootstrap", "--variant=minbase", "bookworm", MIRROR, "policy-rc.d exit 101")
    tag = f"{REPO}/debian:bookworm-{digest(*recipe)}"
    if exists(docker, tag):
        images.reused.append(tag)
        return tag
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise RuntimeError(
            "no Debian image can be pulled and building one needs root and debootstrap "
            "(apt-get install debootstrap)"
        )
    rootfs = work / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR],
        check=True,
        capture_output=True,
        timeout=1200,
        env={**os.environ, **proxy_env()},
    )
    _unmount_below(rootfs)
    # Package scripts must not start services at build time (no init in a container).
    policy = rootfs / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    for cache in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
        for item in cache.glob("*"):
            if item.is_file():
                item.unlink()
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    assert tar.stdout is not None
    argv = [docker.client, "import", "--change", 'CMD ["bash"]', "--change", "ENV LANG=C.UTF-8"]
    subprocess.run(
        [*argv, "-", tag], stdin=tar.stdout, check=True, capture_output=True, timeout=600
    )
    tar.stdout.close()
    if tar.wait() != 0:
        raise RuntimeError("tar of the debootstrap tree failed")
    _unmount_below(rootfs)
    shutil.rmtree(rootfs)
    _drop_older(docker, f"{REPO}/debian", tag)
    images.built.append(tag)
    return tag


def from_recipe(docker: Docker, name: str, recipe: str, base: str, images: Images) -> str:
    text = recipe.format(base=base)
    tag = f"{REPO}/{name}:{digest(text)}"
    if exists(docker, tag):
        images.reused.append(tag)
        return tag
    docker.run(
        "build", "--pull=false", "-t", tag, *proxy_build_args(), "-",
        stdin=text.encode(),
        timeout=1200,
    )  # fmt: skip
    _drop_older(docker, f"{REPO}/{name}", tag)
    images.built.append(tag)
    return tag


def with_host_ca(docker: Docker, image: str, work: Path) -> str:
    """`image` plus the host's CA bundle for pip, when the host's pip names one."""
    bundle = host_ca_bundle()
    if bundle is None:
        return image
    context = work / "host-ca"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, context / "host-ca.pem")
    text = CA_LAYER.format(base=image)
    (context / "Dockerfile").write_text(text)
    tag = f"{REPO}/python-host-ca:{digest(text, bundle.read_text())}"
    if not exists(docker, tag):
        docker.run("build", "--pull=false", "-t", tag, str(context), timeout=600)
        _drop_older(docker, f"{REPO}/python-host-ca", tag)
    return tag


def _drop_older(docker: Docker, repo: str, keep: str) -> None:
    """Remove this recipe's earlier builds, so a changed recipe does not pile up images."""
    listed = docker.run("image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}", timeout=60)
    old = [name for name in listed.stdout.split() if name != keep]
    if old:
        docker.run("image", "rm", *old, check=False, timeout=120)


def _unmount_below(root: Path) -> None:
    """Unmount anything left mounted inside a debootstrap tree before it is tarred or removed."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
