"""The image: built from the wheelhouse with no network, run with no network and a read-only root.

Needs podman (run by runc) and debootstrap; CI installs them. No registry is reachable, so the base
image is a debootstrapped bookworm with Python, imported once and reused by later runs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import DEMO_DOCS, ROOT

IMAGE = "localhost/private-rag:test"
BASE = "localhost/private-rag-test-base:bookworm-ocr"
QUESTION = "How many days of paid annual leave do employees get?"
# crun fails on this kind of machine's cgroup layout, and podman's default ulimits are refused here.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (shutil.which("podman") and shutil.which("runc") and shutil.which("debootstrap")),
    reason="podman, runc or debootstrap is not installed (apt-get install podman runc debootstrap)")]


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run(*args: str, check: bool = True, timeout: int = 900, stdin=None) -> subprocess.CompletedProcess:
        done = subprocess.run(["podman", *args], stdin=stdin, capture_output=True, text=True, env=env,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
        return done

    return run


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


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory):
    if podman("image", "exists", BASE, check=False).returncode != 0:
        make_base_image(podman, tmp_path_factory.mktemp("base"))
    wheels = subprocess.run(["make", "--no-print-directory", "wheelhouse"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert wheels.returncode == 0, wheels.stderr[-4000:]
    previous = image_id(podman, IMAGE)
    # --network none: the build must need nothing but the wheelhouse and the base image.
    podman("build", "--format", "docker", "--network", "none", "--build-arg", f"BASE={BASE}", "-t", IMAGE,
           str(ROOT), timeout=1800)
    if previous and previous != image_id(podman, IMAGE):  # the last run's image, untagged: 3.6 GB no step reuses
        podman("rmi", previous, check=False)
    return IMAGE


@pytest.fixture
def volumes(podman):
    names = {path: f"rag-test-{path.strip('/')}-{uuid.uuid4().hex[:8]}" for path in ("/data", "/keys", "/tls")}
    yield [arg for path, name in names.items() for arg in ("-v", f"{name}:{path}")]
    for name in names.values():
        podman("volume", "rm", "--force", name, check=False)


def run_offline(podman, image, volumes, *command: str) -> subprocess.CompletedProcess:
    # --no-healthcheck: a one-off command is not the server the image's healthcheck probes.
    return podman("run", "--rm", "--no-healthcheck", "--network", "none", "--read-only", *volumes,
                  "-v", f"{DEMO_DOCS}:/docs:ro", image, *command, check=False)


def test_image_runs_as_a_non_root_user_with_a_healthcheck(podman, image):
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    assert inspected["Config"]["User"] == "rag"
    assert "/health" in " ".join(inspected["Healthcheck"]["Test"])


def test_ingest_and_ask_offline_on_a_read_only_root(podman, image, volumes):
    ingested = run_offline(podman, image, volumes, "python", "-m", "ingest", "/docs")
    assert ingested.returncode == 0, ingested.stderr
    asked = run_offline(podman, image, volumes, "python", "-m", "rag.ask", QUESTION, "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and "27" in answer["answer"]
    assert (answer["citations"][0]["source"], answer["citations"][0]["page"]) == ("hr-policy.pdf", 2)
    assert "27 days of paid annual leave" in answer["citations"][0]["quote"]


@pytest.mark.skipif(not (ROOT / "rag" / "serve" / "__main__.py").exists(), reason="rag.serve (issue 7) has not landed")
def test_server_container_reports_healthy(podman, image, volumes):
    ingested = run_offline(podman, image, volumes, "python", "-m", "ingest", "/docs")
    assert ingested.returncode == 0, ingested.stderr
    name = f"rag-test-serve-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--name", name, "--network", "none", "--read-only", *volumes, image)
    try:
        deadline = time.monotonic() + 180
        while podman("healthcheck", "run", name, check=False).returncode != 0:
            assert time.monotonic() < deadline, podman("logs", name, check=False).stderr[-4000:]
            time.sleep(2)
    finally:
        podman("rm", "--force", name, check=False)
