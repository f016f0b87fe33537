#!/usr/bin/env python3
"""How a run's cost grows with the cluster: on labs of N hosts, the node stages (or with
--cluster every stage) first run, no-op re-run, adding one worker, and that worker's stages run
alone (`--limit`), with wall time, the controller's CPU (user+sys of kinstall and every process it
waited for: ansible-playbook, its forks, ssh; and of that, kinstall's own process) and tasks run
per host; beside them, the raw
Ansible floor for the no-op re-run (plain ansible-playbook, the same hosts, facts and task count
per stage). Prints a table and ratios; never passes or fails on time.

The lab is made with two more workers than N: the first is added by a run over the whole
inventory (what a user does today), the second by a run limited to it (the cost of its own work).

Usage: python bench/scale.py [--sizes 3,12,24] [--cluster] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lab_runs import floor_playbook

from installer.inventory.validate import validate
from installer.lab import nodes as labs
from installer.runner import engine

NODE_STAGES = ["preflight", "os", "download", "runtime", "etcd", "loadbalancer"]


# kinstall itself, with its own CPU (event handling, records) written where the bench reads it.
OWN_CPU = """import atexit, os, resource, sys
from installer.cli import main
def own():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["BENCH_OWN_CPU"], "w") as out:
        out.write(str(usage.ru_utime + usage.ru_stime))
atexit.register(own)
sys.argv[0] = "kinstall"
main()
"""


@dataclass
class Run:
    wall: float
    cpu: float  # user+sys seconds of the command and the processes it waited for
    own: float  # of which kinstall's own process (not Ansible's, not ssh's)
    hosts: int
    tasks_per_host: float  # tasks that ran (not skipped), mean over the hosts
    ran: dict[str, int] = field(default_factory=dict)  # tasks that ran, per host


@dataclass
class Size:
    hosts: int
    runs: dict[str, Run] = field(default_factory=dict)


def run(command: list[str], env: dict, hosts: int, home: Path | None = None) -> Run:
    """Time command (which must succeed); with home, count the tasks of the run record it left."""
    own_file = Path(env["KINSTALL_HOME"]).parent / "own-cpu"
    own_file.unlink(missing_ok=True)
    env = {**env, "BENCH_OWN_CPU": str(own_file)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed ({result.returncode}):\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ran: Counter = Counter()
    if home is not None:
        ran = Counter(t["host"] for t in latest_record(home)["tasks"] if t["status"] != "skipped")
    own = float(own_file.read_text()) if own_file.exists() else 0.0
    return Run(wall, cpu, own, hosts, sum(ran.values()) / max(1, len(ran)), dict(ran))


def latest_record(home: Path) -> dict:
    found = sorted(home.glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    return json.loads(found[-1].read_text())


def without(inventory: Path, leave_out: list[str], target: Path) -> Path:
    """The lab's inventory with some hosts left out of every group."""
    document = yaml.safe_load(inventory.read_text())
    hosts = document["all"]["hosts"]
    for name in leave_out:
        hosts.pop(name)
    for group in document["all"]["children"].values():
        for name in leave_out:
            (group.get("hosts") or {}).pop(name, None)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def measure(size: int, stages: list[str] | None, keep: bool) -> Size:
    name = f"bench-scale{size}"
    bin_dir = Path(sys.executable).parent
    if name in labs.names():
        labs.down(name)
    lab = labs.up(name, nodes=size + 2).lab
    added, alone = lab.nodes[-2].name, lab.nodes[-1].name
    measured = Size(size)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            home = tmp / "home"
            env = {**os.environ, "KINSTALL_HOME": str(home), "KINSTALL_CACHE": str(tmp / "cache"),
                   "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
            base = without(lab.inventory, [added, alone], tmp / "base.yml")
            plus_one = without(lab.inventory, [alone], tmp / "plus-one.yml")
            every = lab.inventory

            def up(inventory: Path, *extra: str) -> list[str]:
                return [sys.executable, "-c", OWN_CPU, "up", str(inventory), "--yes",
                        *(["--stages", ",".join(stages)] if stages else []), *extra]

            measured.runs["first run"] = run(up(base), env, size, home)
            measured.runs["no-op re-run"] = run(up(base), env, size, home)
            noop_record = latest_record(home)
            measured.runs["add one worker"] = run(up(plus_one), env, size + 1, home)
            measured.runs["that worker alone"] = run(up(every, "--limit", alone), env, 1, home)
            plain_env = {**env, **engine.controller_env(tmp / "plain", size)}
            overlay = tmp / "groups.yml"
            overlay.write_text(json.dumps(validate(base).cluster.ansible_overlay))
            measured.runs["Ansible floor (no-op)"] = run(
                [str(bin_dir / "ansible-playbook"), "-i", str(base), "-i", str(overlay),
                 str(floor_playbook(tmp, noop_record))], plain_env, size)
    finally:
        if not keep:
            labs.down(name)
    return measured


def report(sizes: list[Size]) -> None:
    print(f"{'hosts':>5}  {'run':<22} {'wall s':>7} {'CPU s':>7} {'kinstall':>8} {'CPU/host':>8} {'tasks/host':>10}")
    for size in sizes:
        for label, r in size.runs.items():
            tasks = f"{r.tasks_per_host:10.1f}" if r.ran else f"{'-':>10}"
            print(f"{size.hosts:>5}  {label:<22} {r.wall:7.1f} {r.cpu:7.1f} {r.own:8.1f} {r.cpu / r.hosts:8.2f} {tasks}")
    print()
    for size in sizes:
        r = size.runs
        print(f"{size.hosts:>5} hosts: no-op / first {r['no-op re-run'].wall / r['first run'].wall:.2f}; "
              f"no-op / floor {r['no-op re-run'].wall / r['Ansible floor (no-op)'].wall:.2f}; "
              f"add one worker / that worker alone {r['add one worker'].wall / r['that worker alone'].wall:.2f}")


def model(sizes: list[Size], cores: tuple[int, ...] = (4, 16), forks: int = 50) -> None:
    """A model past the lab, from the measured runs: the controller's CPU per task run on a host
    (the no-op re-run's CPU slope between the smallest and largest lab, over the tasks per host)
    over a fixed part; each task takes a round trip per batch of `forks` hosts (the smallest lab's
    no-op wall time per task). A pass over N hosts running T tasks each takes the longer of CPU
    (spread over the controller's cores) and round trips. Adding one node: that node's stages alone,
    plus the pass over the others with the tasks they ran in the measured add."""
    small, large = sizes[0], sizes[-1]
    if large.hosts == small.hosts:
        print("\nmodel: needs two lab sizes (--sizes 3,12) to tell a run's fixed cost from its cost per host")
        return
    noop_small, noop_large = small.runs["no-op re-run"], large.runs["no-op re-run"]
    slope = (noop_large.cpu - noop_small.cpu) / (large.hosts - small.hosts)
    tasks = noop_large.tasks_per_host
    per_task_cpu = slope / tasks
    fixed = max(0.0, noop_small.cpu - slope * small.hosts)
    round_trip = noop_small.wall / max(1.0, noop_small.tasks_per_host)
    alone = large.runs["that worker alone"]
    add = large.runs["add one worker"]
    new_host = max(add.ran.values(), default=0)
    others = (sum(add.ran.values()) - new_host) / large.hosts

    def pass_over(hosts: int, each: float, c: int) -> float:
        return max(fixed + hosts * each * per_task_cpu / c, -(-hosts // forks) * each * round_trip)

    print(f"\nmodel (not measured): {per_task_cpu * 1000:.0f} ms of controller CPU per task on a host over "
          f"{fixed:.1f} s; a no-op run {tasks:.0f} tasks per host, an added node's others {others:.1f}; "
          f"{round_trip:.2f} s per task round trip; forks {forks}")
    print(f"{'hosts':>6} " + " ".join(f"{'no-op, ' + str(c) + ' cores':>16} {'add one, ' + str(c) + ' cores':>17}"
                                       for c in cores))
    for hosts in (100, 500, 1000):
        cells = [f"{pass_over(hosts, tasks, c) / 60:13.1f} min "
                 f"{(alone.wall + pass_over(hosts, others, c)) / 60:14.1f} min" for c in cores]
        print(f"{hosts:>6} " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,12,24", help="lab sizes before the two added workers")
    parser.add_argument("--cluster", action="store_true", help="every stage (a Kubernetes cluster), not the node stages")
    parser.add_argument("--keep", action="store_true", help="keep the labs afterwards")
    args = parser.parse_args()
    stages = None if args.cluster else NODE_STAGES
    print(f"{'every stage' if args.cluster else 'node stages (' + ', '.join(NODE_STAGES) + ')'}; "
          f"controller: {os.cpu_count()} cores, lab nodes share them")
    sizes = []
    for size in (int(s) for s in args.sizes.split(",")):
        sizes.append(measure(size, stages, args.keep))
        print(f"  ... {size} hosts measured", flush=True)
    report(sizes)
    model(sizes)


if __name__ == "__main__":
    main()
