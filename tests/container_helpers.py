"""Podman and the private-rag image, shared by the container and compose tests: built once per session.

A pytest plugin (`pytest_plugins = ["container_helpers"]` in each module that needs it), so the session-
scoped fixtures exist once however many modules use them. No registry is reachable, so the base image is a
debootstrapped bookworm with Python and Tesseract, imported once and reused by later runs.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

IMAGE = "localhost/private-rag:test"
BASE = "localhost/private-rag-test-base:bookworm-ocr"
# crun fails on this kind of machine's cgroup layout, and podman's default ulimits are refused here.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""
PODMAN_MISSING = not (shutil.which("podman") and shutil.which("runc") and shutil.which("debootstrap"))
PODMAN_REASON = "podman, runc or debootstrap is not installed (apt-get install podman runc debootstrap)"


class Podman:
    """`podman(*args)` runs podman with the test's containers.conf; `env` is that environment, for
    podman-compose and other tools that call podman themselves."""

    def __init__(self, env: dict):
        self.env = env

    def __call__(self, *args: str, check: bool = True, timeout: int = 900, stdin=None) -> subprocess.CompletedProcess:
        done = subprocess.run(["podman", *args], stdin=stdin, capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
        return done


@pytest.fixture(scope="session")
def podman(tmp_path_factory) -> Podman:
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return Podman({**os.environ, "CONTAINERS_CONF": str(conf)})


def make_base_image(podman, workdir) -> None:
    """A minimal bookworm with Python and Tesseract, the only things a build here cannot get from a registry."""
    root = workdir / "bookworm"
    packages = "python3,python3-venv,tesseract-ocr,tesseract-ocr-eng,tesseract-ocr-fra"
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={packages}", "bookworm", str(root)],
                   check=True, capture_output=True, timeout=900)
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    podman("import", "-", BASE, stdin=tar.stdout, timeout=600)
    assert tar.wait() == 0
    # debootstrap can leave the target's /proc or /sys mounted; never walk into those while deleting.
    mounts = [line.split()[1] for line in open("/proc/mounts") if line.split()[1].startswith(f"{root}/")]
    for mount in sorted(mounts, reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=True)
    shutil.rmtree(root, ignore_errors=True)


def image_id(podman, name: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", name, check=False).stdout.strip()


def make(target: str) -> None:
    done = subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, f"make {target}:\n{done.stderr[-4000:]}"


def build(podman, tag: str, *args: str) -> None:
    """`podman build` of this repository as the docs say, with --network none: the build must need nothing
    but the wheelhouse and the base image."""
    previous = image_id(podman, tag)
    podman("build", "--format", "docker", "--network", "none", "--build-arg", f"BASE={BASE}", *args, "-t", tag,
           str(ROOT), timeout=1800)
    if previous and previous != image_id(podman, tag):  # the last run's image, untagged: GBs no step reuses
        podman("rmi", previous, check=False)


@pytest.fixture(scope="session")
def image(podman, tmp_path_factory) -> str:
    if podman("image", "exists", BASE, check=False).returncode != 0:
        make_base_image(podman, tmp_path_factory.mktemp("base"))
    make("wheelhouse")
    build(podman, IMAGE)
    return IMAGE
