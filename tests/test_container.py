"""The image: built from the wheelhouse with no network, run with no network and a read-only root.

Needs podman (run by runc) and debootstrap; CI installs them. The image is built once per session by
tests/container_helpers.py, which the compose test shares.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from conftest import DEMO_DOCS, ROOT

pytest.register_assert_rewrite("container_helpers")  # a plugin of these modules: imported here first
from container_helpers import PODMAN_MISSING, PODMAN_REASON

pytest_plugins = ["container_helpers"]

QUESTION = "How many days of paid annual leave do employees get?"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(PODMAN_MISSING, reason=PODMAN_REASON)]


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
