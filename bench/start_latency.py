#!/usr/bin/env python3
"""Pod start latency and mutation throughput of `podyard serve` against real Docker.

Rerunnable; Python 3.11 standard library only. It builds nothing: run
`cargo build --release -p podyard` first. It starts its own server (free port, temporary
data directory, 4 emulated GPUs), measures, prints a markdown table, writes
bench/results.md, and removes everything it started (server, containers, volumes) even on
failure or Ctrl-C.

Measured, for --rounds rounds each:
  (a) create: latency of the podFindAndDeployOnDemand call itself, and wall time from
      sending it until `pod { runtime }` is first non-null (polled every --poll-ms);
      then terminate -> container gone (`docker ps -aq --filter label=podyard.pod-id=ID`);
  (b) resume: for a stopped pod whose container is gone, podResume call latency and
      podResume -> runtime non-null; also podStop -> container gone;
  (c) baseline: `docker run -d --rm podyard-test/busybox:latest sleep 3600` until
      `docker inspect -f {{.State.Running}}` says true (same polling), then `docker rm -f`;
  (e) create -> runtime non-null while the pod that held the same GPU is being stopped;
  (f) podResume(gpuCount 0) -> runtime non-null while an unrelated pod is being stopped
      (shows whether one pod's stop delays another pod's start);
and once per client count in --clients:
  (d) throughput: M threads each cycling podStop/podResume on its own pod for --duration
      seconds; acknowledged mutations/s (exercises the state core's group commit, SQLite
      WAL with synchronous=FULL).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "podyard-test/busybox:latest"
GPU_TYPE = "NVIDIA GeForce RTX 4090"
GPU_COUNT = 4
DOCKER_ARGS = "sleep 3600"


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived."""


class GraphQLError(Exception):
    pass


def die(message: str) -> None:
    print(f"start_latency.py: {message}", file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], check: bool = True, timeout: float = 120) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout.strip()


def stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        return {}
    p90 = statistics.quantiles(v, n=10, method="inclusive")[8] if len(v) > 1 else v[0]
    return {"n": len(v), "median": statistics.median(v), "p90": p90, "min": v[0], "max": v[-1]}


class Client:
    """GraphQL over one keep-alive HTTP connection (one per thread)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def query(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", "/graphql", body, headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt == 1:
                    raise
        doc = json.loads(raw)
        if doc.get("errors"):
            raise GraphQLError("; ".join(e.get("message", "?") for e in doc["errors"]))
        return doc["data"]


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.poll = args.poll_ms / 1000.0
        self.run_id = uuid.uuid4().hex[:12]
        self.pods: set[str] = set()  # every pod id ever created by this run
        self.pods_lock = threading.Lock()
        self.server: subprocess.Popen | None = None
        self.data_dir: str | None = None
        self.log_path: str | None = None
        self.port = 0
        self.key = ""
        self.client: Client | None = None

    # ---------------------------------------------------------------- server

    def start_server(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="podyard-bench-")
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.port = free_port()
        cmd = [
            self.args.binary, "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", self.data_dir,
            "--emulate-gpus", f"{GPU_TYPE}:{GPU_COUNT}",
        ]
        log = open(self.log_path, "wb")
        # Own session: a terminal Ctrl-C reaches only us; we stop the server ourselves.
        self.server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        key_path = os.path.join(self.data_dir, "admin-api-key")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited with {self.server.returncode}:\n{self.log_tail()}")
            if os.path.exists(key_path):
                self.key = open(key_path).read().strip()
                if self.key:
                    try:
                        self.client = Client(self.port, self.key)
                        self.client.query("{ myself { id } }")
                        return
                    except (OSError, http.client.HTTPException, GraphQLError, ValueError):
                        self.client = None
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after 30 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return "(no server log)"

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=10)

    # ---------------------------------------------------------------- API

    def create(self, client: Client | None = None) -> str:
        client = client or self.client
        data = client.query(
            "mutation($i: PodFindAndDeployOnDemandInput) { podFindAndDeployOnDemand(input: $i) { id } }",
            {"i": {"gpuTypeId": GPU_TYPE, "gpuCount": 1, "imageName": IMAGE,
                   "dockerArgs": DOCKER_ARGS, "ports": "8888/http"}},
        )
        pod_id = data["podFindAndDeployOnDemand"]["id"]
        with self.pods_lock:
            self.pods.add(pod_id)
        return pod_id

    def stop(self, pod_id: str, client: Client | None = None) -> None:
        (client or self.client).query(
            "mutation($i: PodStopInput) { podStop(input: $i) { id desiredStatus } }",
            {"i": {"podId": pod_id}})

    def resume(self, pod_id: str, gpus: int, client: Client | None = None) -> None:
        (client or self.client).query(
            "mutation($i: PodResumeInput) { podResume(input: $i) { id desiredStatus } }",
            {"i": {"podId": pod_id, "gpuCount": gpus}})

    def terminate(self, pod_id: str) -> None:
        self.client.query("mutation($i: PodTerminateInput) { podTerminate(input: $i) }",
                          {"i": {"podId": pod_id}})

    def wait_runtime(self, pod_id: str, timeout: float = 120) -> float:
        """Polls until runtime is non-null; returns the monotonic time it was first seen."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.client.query(
                "query($i: PodFilter) { pod(input: $i) { runtime { uptimeInSeconds } } }",
                {"i": {"podId": pod_id}})
            now = time.monotonic()
            pod = data["pod"]
            if pod is not None and pod.get("runtime") is not None:
                return now
            if now > deadline:
                raise RuntimeError(f"pod {pod_id} has no runtime after {timeout} s:\n{self.log_tail()}")
            time.sleep(self.poll)

    def containers_of(self, pod_id: str) -> list[str]:
        return run(["docker", "ps", "-aq", "--filter", f"label=podyard.pod-id={pod_id}"]).split()

    def wait_container_gone(self, pod_id: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while True:
            if not self.containers_of(pod_id):
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"container of pod {pod_id} still there after {timeout} s")
            time.sleep(self.poll)

    # ---------------------------------------------------------------- measurements

    def lifecycle_round(self, r: dict[str, list[float]]) -> None:
        # (a) create -> runtime non-null
        t0 = time.monotonic()
        pod_id = self.create()
        t1 = time.monotonic()
        t2 = self.wait_runtime(pod_id)
        r["create_call"].append((t1 - t0) * 1000)
        r["create_to_runtime"].append((t2 - t0) * 1000)

        # (b) stop, wait for the container to go, then resume -> runtime non-null
        t0 = time.monotonic()
        self.stop(pod_id)
        t1 = self.wait_container_gone(pod_id)
        r["stop_to_gone"].append((t1 - t0) * 1000)
        t0 = time.monotonic()
        self.resume(pod_id, 1)
        t1 = time.monotonic()
        t2 = self.wait_runtime(pod_id)
        r["resume_call"].append((t1 - t0) * 1000)
        r["resume_to_runtime"].append((t2 - t0) * 1000)

        # terminate -> container gone
        t0 = time.monotonic()
        self.terminate(pod_id)
        t1 = self.wait_container_gone(pod_id)
        r["terminate_to_gone"].append((t1 - t0) * 1000)

    def contended_round(self, r: dict[str, list[float]]) -> None:
        # (e) pod A runs on GPU 0; stop it and at once create pod B. B gets the free GPU
        # released longest ago, not A's, so it need not wait for A's container to go.
        a = self.create()
        self.wait_runtime(a)
        self.stop(a)
        t0 = time.monotonic()
        b = self.create()
        t1 = self.wait_runtime(b)
        r["create_to_runtime_during_stop"].append((t1 - t0) * 1000)
        # (f) B runs and A's old container is gone (a pod never has two containers); stop
        # B and at once resume A with gpuCount 0: A needs nothing B holds (no GPU; host
        # ports are picked fresh).
        self.wait_container_gone(a)
        self.stop(b)
        t0 = time.monotonic()
        self.resume(a, 0)
        t1 = self.wait_runtime(a)
        r["resume0_to_runtime_during_stop"].append((t1 - t0) * 1000)
        self.terminate(a)
        self.terminate(b)
        self.wait_container_gone(a)
        self.wait_container_gone(b)

    def docker_round(self, r: dict[str, list[float]]) -> None:
        # (c) plain Docker baseline (label only so that cleanup finds it after Ctrl-C)
        t0 = time.monotonic()
        cid = run(["docker", "run", "-d", "--rm", "--label", f"podyard-bench.run={self.run_id}",
                   IMAGE, "sleep", "3600"])
        t1 = time.monotonic()
        while True:
            state = run(["docker", "inspect", "-f", "{{.State.Running}}", cid], check=False)
            now = time.monotonic()
            if state == "true":
                break
            if now - t0 > 60:
                raise RuntimeError(f"docker container {cid} not running after 60 s")
            time.sleep(self.poll)
        r["docker_run_call"].append((t1 - t0) * 1000)
        r["docker_run_to_running"].append((now - t0) * 1000)
        run(["docker", "rm", "-f", cid])

    def throughput(self, clients: int, duration: float) -> dict:
        """M threads, each cycling podStop/podResume(gpuCount 0) on its own pod."""
        pods = []
        for _ in range(clients):
            # every create needs a free GPU; stopping at once releases it for the next
            pod_id = self.create()
            self.stop(pod_id)
            pods.append(pod_id)
        start = threading.Barrier(clients + 1)
        stop_flag = threading.Event()
        acks: list[list[tuple[float, float]]] = [[] for _ in range(clients)]
        errors: list[str] = []

        def worker(i: int) -> None:
            client = Client(self.port, self.key)
            try:
                start.wait()
                running = False
                while not stop_flag.is_set():
                    t0 = time.monotonic()
                    try:
                        if running:
                            self.stop(pods[i], client)
                        else:
                            # gpuCount 0: any number of clients fits on 4 GPUs, and every
                            # client count runs the same mutations
                            self.resume(pods[i], 0, client)
                    except GraphQLError as e:
                        errors.append(str(e))
                        continue
                    t1 = time.monotonic()
                    acks[i].append((t1, (t1 - t0) * 1000))
                    running = not running
            except Exception as e:  # noqa: BLE001 - reported, never silent
                errors.append(repr(e))
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < duration:
                time.sleep(0.05)
        finally:
            stop_flag.set()
            for t in threads:
                t.join(timeout=60)
        t_end = t0 + duration
        all_acks = [a for per in acks for a in per if a[0] <= t_end]
        per_second = [0] * int(duration)
        for t, _ in all_acks:
            s = int(t - t0)
            if 0 <= s < len(per_second):
                per_second[s] += 1
        for pod_id in pods:
            try:
                self.stop(pod_id)
            except GraphQLError:
                pass
        return {
            "clients": clients,
            "acked": len(all_acks),
            "rate": len(all_acks) / duration,
            "per_second": stats([float(x) for x in per_second]),
            "latency": stats([lat for _, lat in all_acks]),
            "errors": errors[:5],
            "error_count": len(errors),
            "pods": pods,
        }

    # ---------------------------------------------------------------- cleanup

    def cleanup(self) -> None:
        # Ask the product first (it removes what it made), then make sure by hand.
        if self.server is not None and self.server.poll() is None and self.client is not None:
            for pod_id in sorted(self.pods):
                try:
                    self.terminate(pod_id)
                except Exception:  # noqa: BLE001 - already gone or server trouble
                    pass
        self.stop_server()
        if self.pods:
            wanted = set(self.pods)
            lines = run(["docker", "ps", "-a", "--filter", "label=podyard.pod-id",
                         "--format", '{{.ID}} {{.Label "podyard.pod-id"}}'], check=False)
            ids = [l.split()[0] for l in lines.splitlines() if len(l.split()) == 2 and l.split()[1] in wanted]
            if ids:
                run(["docker", "rm", "-f", *ids], check=False)
            vols = []
            for pod_id in wanted:
                vols += run(["docker", "volume", "ls", "-q", "--filter",
                             f"label=podyard.pod-id={pod_id}"], check=False).split()
            if vols:
                run(["docker", "volume", "rm", "-f", *vols], check=False)
        base = run(["docker", "ps", "-aq", "--filter", f"label=podyard-bench.run={self.run_id}"], check=False).split()
        if base:
            run(["docker", "rm", "-f", *base], check=False)
        if self.data_dir and not self.args.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --------------------------------------------------------------------------- report

ROWS = [
    ("create_call", "(a) podFindAndDeployOnDemand call"),
    ("create_to_runtime", "(a) create sent -> `runtime` non-null"),
    ("terminate_to_gone", "(a) podTerminate -> container gone"),
    ("stop_to_gone", "(b) podStop -> container gone"),
    ("resume_call", "(b) podResume call"),
    ("resume_to_runtime", "(b) podResume sent -> `runtime` non-null"),
    ("docker_run_call", "(c) `docker run -d` returns"),
    ("docker_run_to_running", "(c) `docker run -d` -> State.Running true"),
    ("create_to_runtime_during_stop", "(e) create -> `runtime` non-null while the pod that held its GPU stops"),
    ("resume0_to_runtime_during_stop", "(f) podResume(gpuCount 0) -> `runtime` non-null while an unrelated pod stops"),
]


def fmt(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def report(results: dict[str, list[float]], tput: list[dict], meta: dict) -> str:
    out = ["| measurement | n | median ms | p90 ms | min ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    for key, label in ROWS:
        s = stats(results.get(key, []))
        if s:
            out.append(f"| {label} | {s['n']} | {fmt(s['median'])} | {fmt(s['p90'])} | {fmt(s['min'])} | {fmt(s['max'])} |")
    if tput:
        out += ["", f"(d) podStop/podResume throughput, {meta['duration']:g} s per row "
                "(acked mutations/s overall; per-second buckets; per-mutation ack latency)", "",
                "| clients | acked | mutations/s | per-s median | per-s p90 | per-s min | per-s max "
                "| ack median ms | ack p90 ms | ack min ms | ack max ms | errors |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for t in tput:
            p, l = t["per_second"], t["latency"]
            if not l:
                out.append(f"| {t['clients']} | 0 | 0 | | | | | | | | | {t['error_count']} |")
                continue
            out.append(f"| {t['clients']} | {t['acked']} | {t['rate']:.0f} | {p['median']:.0f} | {p['p90']:.0f} "
                       f"| {p['min']:.0f} | {p['max']:.0f} | {fmt(l['median'])} | {fmt(l['p90'])} "
                       f"| {fmt(l['min'])} | {fmt(l['max'])} | {t['error_count']} |")
    return "\n".join(out)


def machine_info() -> dict:
    def safe(cmd: list[str]) -> str:
        try:
            return run(cmd, check=False, timeout=20) or "?"
        except Exception:  # noqa: BLE001
            return "?"
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rev = safe(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = safe(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    head_time = safe(["git", "-C", REPO, "log", "-1", "--format=%ct"])
    return {
        "head_time": int(head_time) if head_time.isdigit() else None,
        "nproc": safe(["nproc"]),
        "cpu": cpu,
        "kernel": safe(["uname", "-r"]),
        "docker": safe(["docker", "version", "--format", "{{.Server.Version}}"]),
        "storage_driver": safe(["docker", "info", "--format", "{{.Driver}}"]),
        "commit": rev + (" (working tree modified)" if dirty not in ("", "?") else ""),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20, help="rounds of (a), (b), (c), (e), (f) (default 20)")
    ap.add_argument("--clients", default="1,4,16",
                    help="comma-separated client counts for the throughput test (d) (default 1,4,16)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per throughput row (default 10)")
    ap.add_argument("--poll-ms", type=float, default=10.0, help="polling interval (default 10)")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "podyard"))
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results.md"))
    ap.add_argument("--keep-data", action="store_true", help="keep the temp data dir (server log)")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",") if c.strip()]

    if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
        die(f"no podyard binary at {args.binary}; build it first: cargo build --release -p podyard")
    if shutil.which("docker") is None:
        die("docker CLI not found")
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        die(f"image {IMAGE} missing; build it with scripts/build-test-image.sh (podyard never pulls)")

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # provenance is taken before the run: others may commit while it runs
    start_info = machine_info()
    load_start = os.getloadavg()
    built = dt.datetime.fromtimestamp(os.path.getmtime(args.binary), dt.timezone.utc)
    provenance = f"binary built {built.strftime('%Y-%m-%d %H:%M:%S UTC')}; HEAD at run start {start_info['commit']}"
    if start_info["head_time"] and os.path.getmtime(args.binary) < start_info["head_time"]:
        provenance += " (WARNING: the binary is older than HEAD; rebuild for current figures)"
        print(f"start_latency.py: warning: {args.binary} is older than HEAD; rebuild it", file=sys.stderr)

    command = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), REPO), *sys.argv[1:]])
    bench = Bench(args)
    results: dict[str, list[float]] = {k: [] for k, _ in ROWS}
    tput: list[dict] = []
    started = dt.datetime.now(dt.timezone.utc)
    ok = False
    try:
        bench.start_server()
        print(f"server on 127.0.0.1:{bench.port}, data dir {bench.data_dir}", file=sys.stderr)
        for i in range(args.rounds):
            bench.lifecycle_round(results)
            bench.docker_round(results)
            bench.contended_round(results)
            print(f"round {i + 1}/{args.rounds}: start {results['create_to_runtime'][-1]:.0f} ms, "
                  f"resume {results['resume_to_runtime'][-1]:.0f} ms, "
                  f"docker {results['docker_run_to_running'][-1]:.0f} ms, "
                  f"start during stop {results['create_to_runtime_during_stop'][-1]:.0f} ms, "
                  f"resume(0) during stop {results['resume0_to_runtime_during_stop'][-1]:.0f} ms",
                  file=sys.stderr)
        for m in clients:
            t = bench.throughput(m, args.duration)
            tput.append(t)
            print(f"throughput {m} clients: {t['rate']:.0f} mutations/s, errors {t['error_count']} "
                  f"{t['errors'][:2]}", file=sys.stderr)
            # let the agent catch up so that every row starts from the same host state
            for pod_id in t["pods"]:
                bench.wait_container_gone(pod_id, timeout=300)
        ok = True
    except Interrupted as e:
        print(f"interrupted ({e}); cleaning up", file=sys.stderr)
    except Exception:
        print(f"bench failed; server log tail:\n{bench.log_tail()}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
    if not ok:
        sys.exit(130)

    meta = {"duration": args.duration}
    table = report(results, tput, meta)
    info = start_info
    load_end = os.getloadavg()
    print(table)
    doc = f"""# podyard start latency and mutation throughput

Written by `bench/start_latency.py`; rerun it to refresh this file.

- date: {started.strftime('%Y-%m-%d %H:%M UTC')}
- load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} (other work on the host skews every figure)
- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, Docker {info['docker']} ({info['storage_driver']})
- podyard: `{os.path.relpath(args.binary, REPO)}`: {provenance}
- command: `cargo build --release -p podyard && {command}`
- server: `podyard serve --emulate-gpus "{GPU_TYPE}:{GPU_COUNT}"`, default stop grace (5 s), temp data dir
- pods: `{IMAGE}`, dockerArgs `{DOCKER_ARGS}`, ports `8888/http`, 1 GPU; polling every {args.poll_ms:g} ms
  (so figures that end in a poll carry up to ~{args.poll_ms:g} ms plus one request of slack)

{table}

Notes:
- (b) resumes only after the stopped pod's container is gone, so it does not include the stop.
- (e) stops pod A and at once creates pod B on the same host; B is given a GPU released
  longest ago (not A's), so it need not wait for A's container to go.
- (f) stops pod B and at once resumes pod A with gpuCount 0: A shares no GPU with B.
- (d) each client owns one pod and alternates podStop / podResume(gpuCount: 0); every
  mutation waits for its acknowledgement (durable commit) before the next.
"""
    with open(args.output, "w") as f:
        f.write(doc)
    print(f"\nwrote {os.path.relpath(args.output, REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
