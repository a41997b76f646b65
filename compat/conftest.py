"""A live `podyard serve` for the client compatibility tests.

One server per pytest session: the built binary on a free loopback port, a fresh data
directory, four emulated RTX 4090s and the real Docker engine. Tests start pods through
the real RunPod clients; the `pods` fixture terminates what a test leaves behind, and the
session removes every container and volume of the server's machine at the end, also
after a failed assertion.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "podyard-test/busybox:latest"
RTX_4090 = "NVIDIA GeForce RTX 4090"
GPUS = 4
# Clients ask for a public IP by default (`supportPublicIp: true`); the host offers one.
PUBLIC_IP = "127.0.0.1"
WAIT_S = 60


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args):
    """Runs `docker ARGS`; returns stdout, stripped."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def containers_of(pod_id, running_only=False):
    args = ["ps", "-q", "--filter", f"label=podyard.pod-id={pod_id}"]
    if not running_only:
        args.insert(1, "-a")
    return docker(*args).split()


def volumes_of(pod_id):
    return docker("volume", "ls", "-q", "--filter", f"label=podyard.pod-id={pod_id}").split()


def exec_in(pod_id, script):
    """Runs a shell script in the pod's running container; returns stdout."""
    running = containers_of(pod_id, running_only=True)
    assert running, f"pod {pod_id} has no running container"
    return docker("exec", running[0], "sh", "-c", script)


def wait_for(what, check, timeout=WAIT_S):
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)


class Podyard:
    """A running `podyard serve` and a raw GraphQL client for it."""

    def __init__(self, binary, data_dir):
        self.data_dir = Path(data_dir)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.graphql_url = f"{self.base_url}/graphql"
        self.log_path = self.data_dir / "serve.log"
        args = [
            str(binary), "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", str(self.data_dir),
            "--emulate-gpus", f"{RTX_4090}:{GPUS}",
            "--public-ip", PUBLIC_IP,
            "--stop-grace-seconds", "1",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        wait_for("podyard serve answering /health", self._healthy, timeout=WAIT_S)
        self.key = (self.data_dir / "admin-api-key").read_text().strip()
        self.machine_id = json.loads((self.data_dir / "machine.json").read_text())["id"]

    def _healthy(self):
        assert self.process.poll() is None, f"podyard serve exited:\n{self.log()}"
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, query, variables=None, key=None):
        """Posts a query with the key as a Bearer header; returns (status, body)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.graphql_url, data=body, method="POST")
        request.add_header("content-type", "application/json")
        request.add_header("authorization", f"Bearer {key or self.key}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def gql(self, query, variables=None):
        """Runs a query as the admin; returns `data`, failing on any error."""
        status, body = self.post(query, variables)
        assert status == 200 and "errors" not in body, body
        return body["data"]

    def pod(self, pod_id):
        query = """query Pod($id: String!) { pod(input: {podId: $id}) {
            id desiredStatus gpuCount runtime { ports { privatePort publicPort } } } }"""
        return self.gql(query, {"id": pod_id})["pod"]

    def terminate(self, pod_id):
        """Terminates a pod; an already gone pod is fine."""
        self.post("mutation T($id: String!) { podTerminate(input: {podId: $id}) }", {"id": pod_id})

    def stop(self):
        self.process.kill()
        self.process.wait()


def _remove_machine_containers(machine_id):
    label = f"label=podyard.machine-id={machine_id}"
    containers = docker("ps", "-aq", "--filter", label).split()
    if containers:
        docker("rm", "-f", *containers)
    volumes = docker("volume", "ls", "-q", "--filter", label).split()
    if volumes:
        docker("volume", "rm", "-f", *volumes)


@pytest.fixture(scope="session")
def podyard():
    binary = Path(os.environ.get("PODYARD_BIN", ROOT / "target" / "debug" / "podyard"))
    assert binary.exists(), f"{binary} is missing: run `cargo build -p podyard`"
    assert docker("image", "inspect", "--format", "{{.Id}}", IMAGE), (
        f"image {IMAGE} is missing: run scripts/build-test-image.sh"
    )
    data_dir = tempfile.mkdtemp(prefix="podyard-compat-")
    server = Podyard(binary, data_dir)
    try:
        yield server
    finally:
        server.stop()
        _remove_machine_containers(server.machine_id)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pods(podyard):
    """A list a test appends the ids of its pods to: they are terminated afterwards and
    their containers waited out, so that the next test finds every GPU free."""
    created = []
    yield created
    for pod_id in created:
        podyard.terminate(pod_id)
    for pod_id in created:
        wait_for(f"pod {pod_id}'s containers removed", lambda: not containers_of(pod_id))
