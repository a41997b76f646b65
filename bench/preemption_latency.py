#!/usr/bin/env python3
"""Preemption latency of `podyard serve` against real Docker.

Rerunnable; Python 3.11 standard library only; reuses the server and client helpers of
start_latency.py. Run `cargo build --release -p podyard` first. It starts its own server
with ONE emulated GPU, so every winner must preempt, and for --rounds rounds:

  1. creates a spot pod at $0.20/GPU/hr whose command traps SIGTERM and exits (a pod that
     shuts down promptly), and waits until it runs;
  2. sends the winner's create (alternately a spot bid of $0.30 and an on-demand create)
     and times, from sending that request, with Docker's own event timestamps:
       - request -> SIGTERM delivered to the outbid container (`kill`, signal 15),
       - request -> outbid container stopped (`die`),
       - request -> winner's container started (`start`),
     and request -> winner's `runtime` seen through the API (polled every --poll-ms).
A last group of --grace-rounds rounds uses a victim that ignores SIGTERM (`sleep` as PID 1)
to show the bound: SIGKILL after the grace period (5 s by default).

Prints a markdown table and overwrites bench/preemption.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import start_latency as base  # noqa: E402

TRAPS_SIGTERM = "sh -c 'trap \"exit 0\" TERM; while :; do sleep 0.1; done'"
IGNORES_SIGTERM = "sleep 3600"

ROWS = [
    ("sigterm", "request -> SIGTERM to the outbid container"),
    ("died", "request -> outbid container stopped"),
    ("started", "request -> winner's container started"),
    ("api", "request -> winner's `runtime` seen in the API"),
    ("ack", "winner's create call (acknowledged)"),
    ("grace_sigkill", "victim ignoring SIGTERM: request -> SIGKILL"),
    ("grace_started", "victim ignoring SIGTERM: request -> winner's container started"),
]


def create(bench: base.Bench, bid: float | None, docker_args: str) -> str:
    field, kind = (("podRentInterruptable", "PodRentInterruptableInput") if bid is not None
                   else ("podFindAndDeployOnDemand", "PodFindAndDeployOnDemandInput"))
    spec = {"gpuTypeId": base.GPU_TYPE, "gpuCount": 1, "imageName": base.IMAGE,
            "dockerArgs": docker_args}
    if bid is not None:
        spec["bidPerGpu"] = bid
    data = bench.client.query(f"mutation($i: {kind}) {{ {field}(input: $i) {{ id }} }}", {"i": spec})
    pod_id = data[field]["id"]
    with bench.pods_lock:
        bench.pods.add(pod_id)
    return pod_id


def events(pod_id: str, since_ns: int) -> list[tuple[int, str, str]]:
    """(time ns, action, signal) of the pod's container events since `since_ns`."""
    out = base.run([
        "docker", "events", "--since", f"{since_ns / 1e9:.3f}",
        "--until", f"{time.time() + 1:.3f}",
        "--filter", f"label=podyard.pod-id={pod_id}",
        "--format", '{{.TimeNano}} {{.Action}} {{index .Actor.Attributes "signal"}}',
    ])
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            rows.append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def first(rows, action: str, signal: str | None = None) -> int | None:
    for t, a, s in rows:
        if a == action and (signal is None or s == signal):
            return t
    return None


def one_round(bench: base.Bench, r: dict[str, list[float]], winner_bid: float | None,
              victim_args: str, grace: bool) -> None:
    victim = create(bench, 0.2, victim_args)
    bench.wait_runtime(victim)
    sent_ns = time.time_ns()
    sent = time.monotonic()
    winner = create(bench, winner_bid, base.DOCKER_ARGS)
    r["ack"].append((time.monotonic() - sent) * 1000)
    seen = bench.wait_runtime(winner)
    if not grace:
        r["api"].append((seen - sent) * 1000)
    time.sleep(0.5)  # let Docker publish the events
    v, w = events(victim, sent_ns), events(winner, sent_ns)
    sigterm, sigkill, died = first(v, "kill", "15"), first(v, "kill", "9"), first(v, "die")
    started = first(w, "start")
    if None in (sigterm, died, started):
        raise RuntimeError(f"missing Docker events: victim {v}, winner {w}")
    if died > started:
        raise RuntimeError("the winner started before the outbid container stopped")
    ms = lambda t: (t - sent_ns) / 1e6  # noqa: E731
    if grace:
        if sigkill is not None:
            r["grace_sigkill"].append(ms(sigkill))
        r["grace_started"].append(ms(started))
    else:
        r["sigterm"].append(ms(sigterm))
        r["died"].append(ms(died))
        r["started"].append(ms(started))
    for pod in (victim, winner):
        bench.terminate(pod)
    for pod in (victim, winner):
        bench.wait_container_gone(pod)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--grace-rounds", type=int, default=3)
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--binary", default=os.path.join(base.REPO, "target", "release", "podyard"))
    ap.add_argument("--output", default=os.path.join(base.REPO, "bench", "preemption.md"))
    ap.add_argument("--keep-data", action="store_true")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        base.die(f"no podyard binary at {args.binary}; run cargo build --release -p podyard")

    base.GPU_COUNT = 1
    info = base.machine_info()
    bench = base.Bench(args)
    results: dict[str, list[float]] = {k: [] for k, _ in ROWS}
    try:
        bench.start_server()
        for i in range(args.rounds):
            one_round(bench, results, 0.3 if i % 2 == 0 else None, TRAPS_SIGTERM, grace=False)
        for i in range(args.grace_rounds):
            one_round(bench, results, 0.3, IGNORES_SIGTERM, grace=True)
    finally:
        bench.cleanup()

    table = ["| measurement | n | median ms | p90 ms | min ms | max ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, label in ROWS:
        s = base.stats(results[key])
        if s:
            table.append(f"| {label} | {s['n']} | {base.fmt(s['median'])} | {base.fmt(s['p90'])} "
                         f"| {base.fmt(s['min'])} | {base.fmt(s['max'])} |")
    command = shlex.join(["python3", "bench/preemption_latency.py", *sys.argv[1:]])
    doc = "\n".join([
        "# podyard preemption latency", "",
        "Written by `bench/preemption_latency.py`; rerun it to refresh this file.", "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Docker {info['docker']} "
        f"({info['storage_driver']}); podyard {info['commit']}",
        f"- command: `cargo build --release -p podyard && {command}`",
        "- one emulated RTX 4090; victims bid $0.20 and trap SIGTERM; winners alternate a "
        "$0.30 bid and an on-demand create; default stop grace 5 s",
        "- Docker event timestamps, measured from sending the winner's create", "",
        *table, "",
    ])
    print(doc)
    with open(args.output, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
