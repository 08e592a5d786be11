"""The composed deployment as an operator runs it: compose.yaml with podman-compose, the steps of
docs/deployment.md in order, on rootful podman.

Ingest and a token through the API's container, a cited answer over HTTPS from the host through the port
published on 127.0.0.1; no service has a route out; the Chroma volume holds no document text and no key;
health checks; `down` then `up`, a rebuilt image and a restore from volume backups keep the store, the tokens
and the audit chain; with `--profile inference` the answer comes from the llama.cpp service. Needs podman (runc), debootstrap and
podman-compose >= 1.4; CI installs them. The image is the container test's (tests/container_helpers.py).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import random
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import DEMO_DOCS, ROOT

pytest.register_assert_rewrite("container_helpers")  # a plugin of these modules: imported here first
from container_helpers import BASE, IMAGE, PODMAN_MISSING, PODMAN_REASON, build, image_id, make

pytest_plugins = ["container_helpers"]

QUESTION = "How many days of paid annual leave do employees get?"
# Document phrases that must never reach the Chroma server in clear (each is searched for through the API
# first, to show it was ingested).
CANARIES = ["27 days of paid annual leave", "Ingrid Solberg", "Kari Nesheim"]
INFERENCE_IMAGE = "localhost/private-rag-inference:test"
UPGRADE_IMAGE = "localhost/private-rag:test-upgrade"
# A public address and a TEST-NET one (on this project's machines, their own gateway). The probe only looks
# routes up (a UDP connect sends nothing) and tries TCP only where no route exists, so no packet leaves even
# if a route were found.
OUTSIDE = ["1.1.1.1", "192.0.2.1"]
START_SECONDS = 300
VOLUMES = ("keys", "state", "tls", "chroma")
MIN_COMPOSE = (1, 4)  # x-podman.disable_dns (the internal network's DNS would forward queries out)


def podman_compose_version() -> tuple[int, ...] | None:
    if not shutil.which("podman-compose"):
        return None
    out = subprocess.run(["podman-compose", "--version"], capture_output=True, text=True, timeout=60).stdout
    found = re.search(r"podman-compose version\s+(\d+)\.(\d+)", out)
    return tuple(int(n) for n in found.groups()) if found else None


def compose_missing() -> str | None:
    if PODMAN_MISSING:
        return PODMAN_REASON
    version = podman_compose_version()
    if version is None or version < MIN_COMPOSE:
        return (f"podman-compose >= {'.'.join(map(str, MIN_COMPOSE))} is not installed (found "
                f"{'.'.join(map(str, version)) if version else 'none'}; pip install podman-compose)")
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(compose_missing() is not None, reason=str(compose_missing()))]

# Run in each container: routes, a route lookup per outside address, TCP only where there is none, and
# whether any name server is reachable at all (no query is sent).
PROBE = """
import errno, ipaddress, json, socket, sys
def attempt(address, port, kind):
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.settimeout(5)
        try:
            s.connect((address, port))
            return "connected"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc))
result = {"default_routes": [l.split()[0] for l in open("/proc/net/route").read().splitlines()[1:]
                             if l.split()[1] == "00000000"]}
for address in sys.argv[1:]:
    result[address] = attempt(address, 443, socket.SOCK_DGRAM)
    if result[address] == "ENETUNREACH":
        result[address + " tcp"] = attempt(address, 443, socket.SOCK_STREAM)
servers = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")]
result["nameservers"] = {ns: attempt(ns.split("%")[0], 53, socket.SOCK_DGRAM) for ns in servers}
print(json.dumps(result))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_backend_net(podman) -> str:
    """A /24 for the backend network that no podman network and no host route uses."""
    taken = podman("network", "ls", "--format", "{{range .Subnets}}{{.Subnet}} {{end}}").stdout.split()
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:  # the host's own routes
        destination, mask = (socket.inet_ntoa(int(field, 16).to_bytes(4, "little")) for field in
                             (line.split()[1], line.split()[7]))
        if mask != "0.0.0.0":
            taken.append(f"{destination}/{mask}")
    used = [ipaddress.ip_network(net, strict=False) for net in taken]
    for third in random.sample(range(200, 250), 50):
        candidate = ipaddress.ip_network(f"10.89.{third}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return f"10.89.{third}"
    raise AssertionError(f"no free 10.89.200-249.0/24 for the backend network: {taken}")


class Stack:
    """One compose project (`-p rag-test-HEX`) run from the repository's compose.yaml."""

    def __init__(self, podman, workdir: Path):
        self.podman = podman
        self.project = f"rag-test-{uuid.uuid4().hex[:8]}"
        self.net = free_backend_net(podman)
        self.port = free_port()
        self.env = {**podman.env, "RAG_IMAGE": IMAGE, "INFERENCE_IMAGE": INFERENCE_IMAGE, "BASE_IMAGE": BASE,
                    "BACKEND_NET": self.net, "RAG_PORT": str(self.port), "RAG_LLM": "default"}
        self.profiles: list[str] = []
        self.workdir = workdir
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca: Path | None = None
        self.token = ""

    def compose(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        profiles = [arg for name in self.profiles for arg in ("--profile", name)]
        done = subprocess.run(["podman-compose", "-p", self.project, *profiles, *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def volume(self, name: str) -> Path:
        mountpoint = self.podman("volume", "inspect", "--format", "{{.Mountpoint}}", f"{self.project}_{name}")
        return Path(mountpoint.stdout.strip())

    def logs(self, service: str) -> str:
        done = self.podman("logs", self.container(service), check=False)
        return done.stdout + done.stderr

    def healthy(self, service: str) -> bool:
        return self.podman("healthcheck", "run", self.container(service), check=False).returncode == 0

    def wait_healthy(self, *services: str, seconds: float = START_SECONDS) -> None:
        # Podman runs health checks from systemd timers; without systemd (as here) `healthcheck run` is the
        # probe, and it records the status that `podman ps` and `inspect` show.
        deadline = time.monotonic() + seconds
        for service in services:
            while not self.healthy(service):
                state = self.podman("inspect", "--format", "{{.State.Status}}", self.container(service),
                                    check=False).stdout.strip()
                assert state == "running" and time.monotonic() < deadline, \
                    f"{service} is {state}, not healthy:\n{self.logs(service)[-4000:]}"
                time.sleep(2)

    def one_off(self, *command: str, volumes: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """`podman-compose run --rm api COMMAND`, as the operator runs ingest, token and audit commands."""
        return self.compose("run", "-T", "--rm", *[a for v in volumes for a in ("-v", v)], "api", *command)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.ca)),
                            headers=headers, timeout=300)

    def ask(self) -> dict:
        with self.client() as client:
            response = client.post("/ask", json={"question": QUESTION})
        assert response.status_code == 200, response.text
        return response.json()

    def audit(self) -> int:
        """`rag.audit verify` passes; the number of entries in the chain."""
        verified = self.one_off("python", "-m", "rag.audit", "verify")
        found = re.search(r"audit log intact: (\d+) entries", verified.stdout)
        assert found, verified.stdout + verified.stderr
        return int(found.group(1))

    def probe(self, service: str) -> dict:
        done = self.podman("exec", self.container(service), "python", "-c", PROBE, *OUTSIDE)
        return json.loads(done.stdout)

    def remove(self) -> None:
        self.profiles = ["inference"]
        self.compose("down", "--volumes", check=False, timeout=300)
        label = f"label=io.podman.compose.project={self.project}"
        leftovers = self.podman("ps", "-a", "-q", "--filter", label, check=False).stdout.split()
        if leftovers:
            self.podman("rm", "--force", "--volumes", *leftovers, check=False)
        self.podman("pod", "rm", "--force", f"pod_{self.project}", check=False)
        for network in ("backend", "edge"):
            self.podman("network", "rm", "--force", f"{self.project}_{network}", check=False)
        for volume in VOLUMES:
            self.podman("volume", "rm", "--force", f"{self.project}_{volume}", check=False)


def assert_cited(answer: dict) -> None:
    assert not answer["abstained"] and "27" in answer["answer"], answer
    cited = answer["citations"][0]
    assert (cited["source"], cited["page"]) == ("hr-policy.pdf", 2), answer
    assert "27 days of paid annual leave" in cited["quote"], answer


@pytest.fixture(scope="module")
def stack(podman, image, tmp_path_factory):
    """The stack as docs/deployment.md brings it up: ingest, a token, `up -d`, the certificate."""
    stack = Stack(podman, tmp_path_factory.mktemp("compose"))
    try:
        started = time.monotonic()
        ingested = stack.one_off("python", "-m", "ingest", "/docs", volumes=(f"{DEMO_DOCS}:/docs:ro",))
        assert "ingested 4" in ingested.stdout, ingested.stdout + ingested.stderr
        added = stack.one_off("python", "-m", "rag.serve", "token", "add", "alice", "--role", "reader")
        stack.token = added.stdout.strip().splitlines()[-1]
        stack.compose("up", "-d")
        stack.wait_healthy("chroma", "api")
        stack.ca = stack.workdir / "rag-ca.pem"
        stack.ca.write_text(stack.compose("exec", "-T", "api", "cat", "/tls/cert.pem").stdout)
        print(f"stack up in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        stack.remove()
        podman("rmi", UPGRADE_IMAGE, check=False)


@pytest.fixture(scope="module")
def inference_image(podman, image) -> str:
    make("wheelhouse-inference")
    build(podman, INFERENCE_IMAGE, "--target", "inference")
    return INFERENCE_IMAGE


def test_cited_answer_over_https_through_the_port_published_on_loopback(stack, podman):
    assert_cited(stack.ask())
    ports = {service: podman("port", stack.container(service)).stdout.split() for service in ("api", "chroma")}
    assert ports == {"api": ["8443/tcp", "->", f"127.0.0.1:{stack.port}"], "chroma": []}
    with stack.client(token="not-a-token") as client:
        assert client.post("/ask", json={"question": QUESTION}).status_code == 401


def test_no_service_has_a_route_out(stack, podman):
    backend = json.loads(podman("network", "inspect", f"{stack.project}_backend").stdout)[0]
    assert backend["internal"] and not backend["dns_enabled"], backend
    assert not any(subnet.get("gateway") for subnet in backend["subnets"]), backend  # the host has no address there
    edge = json.loads(podman("network", "inspect", f"{stack.project}_edge").stdout)[0]
    assert not edge["dns_enabled"], edge
    for service in ("api", "chroma"):
        found = stack.probe(service)
        assert found["default_routes"] == [], (service, found)
        for address in OUTSIDE:
            assert found[address] == "ENETUNREACH" and found[address + " tcp"] == "ENETUNREACH", (service, found)
        assert set(found["nameservers"].values()) <= {"ENETUNREACH"}, (service, found)
    # The API's server process runs without the capability its entrypoint used to drop the route.
    status = podman("exec", stack.container("api"), "cat", "/proc/1/status").stdout
    assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M), status


def test_chroma_volume_holds_no_document_text_and_no_key(stack, podman):
    with stack.client() as client:
        for phrase in CANARIES:  # ingested: the API finds each phrase, decrypted
            found = client.post("/search", json={"query": phrase, "k": 4}).json()["results"]
            assert any(phrase in hit["text"] for hit in found), (phrase, found)
    chroma = stack.volume("chroma")
    files = [p for p in chroma.rglob("*") if p.is_file()]
    assert any(p.name == "chroma.sqlite3" for p in files), files
    key_file = stack.volume("keys") / "key"
    key_text = key_file.read_bytes().strip()
    secrets = {phrase: phrase.encode() for phrase in CANARIES}
    secrets.update({"key file": key_text, "raw key": base64.b64decode(key_text)})
    for what, needle in secrets.items():
        holding = [str(p.relative_to(chroma)) for p in files if needle in p.read_bytes()]
        assert not holding, f"{what} found in the Chroma volume: {holding}"
    assert not any(p.name == "keyring.json" for p in files)
    mounts = json.loads(podman("inspect", "--format", "{{json .Mounts}}", stack.container("chroma")).stdout)
    assert [m["Destination"] for m in mounts if m["Type"] == "volume"] == ["/chroma"], mounts


def test_each_service_reports_its_health(stack, podman):
    for service in ("chroma", "api"):
        assert stack.healthy(service), stack.logs(service)[-4000:]
        status = podman("inspect", "--format", "{{.State.Health.Status}}", stack.container(service)).stdout
        assert status.strip() == "healthy", (service, status)


def test_down_then_up_keeps_store_tokens_and_audit_and_the_api_waits_for_chroma(stack, podman):
    entries = stack.audit()
    cert = stack.ca.read_bytes()
    stack.compose("down")
    assert podman("ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={stack.project}").stdout == ""
    # The API alone: it waits for the Chroma server instead of failing.
    stack.compose("up", "-d", "--no-deps", "api")
    deadline = time.monotonic() + 60
    while "api: waiting for http://" not in stack.logs("api"):
        assert time.monotonic() < deadline, stack.logs("api")
        time.sleep(1)
    time.sleep(5)
    assert podman("inspect", "--format", "{{.State.Status}}", stack.container("api")).stdout.strip() == "running"
    assert not stack.healthy("api")
    stack.compose("up", "-d")
    stack.wait_healthy("chroma", "api")
    assert stack.compose("exec", "-T", "api", "cat", "/tls/cert.pem").stdout.encode() == cert
    assert_cited(stack.ask())  # the token from before the restart, over the same certificate
    with stack.client() as client:
        assert len(client.get("/documents").json()["documents"]) == 4
    assert stack.audit() > entries  # the chain verifies and goes on: nothing before the restart was lost


def test_a_rebuilt_image_opens_the_old_volumes(stack, podman):
    entries = stack.audit()
    # A new release, built the operator's way (`podman-compose build`), offline; its label makes it a new image.
    stack.env["RAG_IMAGE"] = UPGRADE_IMAGE
    stack.compose("--podman-build-args", f"--format docker --network none --label release={stack.project}",
                  "build", "api", timeout=1800)
    assert image_id(podman, UPGRADE_IMAGE) not in ("", image_id(podman, IMAGE))
    stack.compose("down")
    stack.compose("up", "-d")
    stack.wait_healthy("chroma", "api")
    for service in ("api", "chroma"):
        used = podman("inspect", "--format", "{{.ImageName}}", stack.container(service)).stdout.strip()
        assert used == UPGRADE_IMAGE, (service, used)
    assert_cited(stack.ask())
    assert stack.audit() > entries


def test_volume_backups_restore_the_deployment(stack, podman, tmp_path):
    """The backup and restore of docs/deployment.md: volumes exported with the stack down, removed,
    imported into new volumes; the stack then answers, keeps its tokens and audit chain, and can write."""
    entries = stack.audit()
    stack.compose("down")
    for name in VOLUMES:
        volume = f"{stack.project}_{name}"
        podman("volume", "export", volume, "--output", str(tmp_path / f"{name}.tar"))
        podman("volume", "rm", volume)
    for name in VOLUMES:
        volume = f"{stack.project}_{name}"
        podman("volume", "create", volume)
        podman("volume", "import", volume, str(tmp_path / f"{name}.tar"))
    key = (stack.volume("keys") / "key").stat()
    assert (key.st_uid, oct(key.st_mode & 0o777)) == (10001, "0o600")
    stack.compose("up", "-d")
    stack.wait_healthy("chroma", "api")
    assert_cited(stack.ask())
    assert stack.audit() > entries
    # Still writable by the non-root services: a new document into Chroma, a new token into the state.
    more = tmp_path / "more"
    more.mkdir(mode=0o755)
    (more / "canteen.txt").write_text("The staff canteen in Bergen serves lunch from 11:30 to 13:00.\n")
    (more / "canteen.txt").chmod(0o644)  # read by the container's non-root user
    added = stack.one_off("python", "-m", "ingest", "/more", volumes=(f"{more}:/more:ro",))
    assert "ingested 1" in added.stdout, added.stdout + added.stderr
    token = stack.one_off("python", "-m", "rag.serve", "token", "add", "bob", "--role", "reader")
    with stack.client(token.stdout.strip().splitlines()[-1]) as client:
        assert len(client.get("/documents").json()["documents"]) == 5


def test_inference_profile_answers_from_the_llama_cpp_service(stack, podman, inference_image):
    stack.profiles = ["inference"]
    stack.env["RAG_LLM"] = f"openai+http://{stack.net}.3:8080/v1"
    stack.compose("up", "-d")  # the API is recreated with RAG_LLM, and waits for the inference server
    stack.wait_healthy("inference", "api")
    served = stack.logs("inference").count("POST /v1/completions")
    assert_cited(stack.ask())
    assert stack.logs("inference").count("POST /v1/completions") > served, stack.logs("inference")[-3000:]
    assert stack.healthy("inference")
    found = stack.probe("inference")
    assert found["default_routes"] == [], found
    for address in OUTSIDE:
        assert found[address] == "ENETUNREACH" and found[address + " tcp"] == "ENETUNREACH", found
    assert podman("port", stack.container("inference")).stdout.strip() == ""
