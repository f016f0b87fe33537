#!/usr/bin/env python3
"""kinstall's overhead over plain Ansible: the same 50-task playbook on a 3-node lab, through
`kinstall up` (validate, plan, lock, ansible-runner, events, record) and through plain
`ansible-playbook` with the same settings (pipelining, ControlPersist, forks, fact cache), runs
interleaved in one process. Prints figures; never passes or fails on time.

Usage: python bench/runner_overhead.py [--tasks 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed

from installer.lab import nodes as labs
from installer.runner import engine

LAB = "bench-runner"


def playbook(directory: Path, tasks: int) -> Path:
    lines = ["- name: Benchmark", "  hosts: k8s_cluster:etcd", "  gather_facts: false", "  tasks:"]
    for i in range(tasks):
        lines += [f"    - name: Trivial task {i + 1}", "      ansible.builtin.ping:"]
    path = directory / "os.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    lab = labs.up(LAB, nodes=3).lab
    inventory = str(lab.inventory)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            book = playbook(tmp, args.tasks)
            state = tmp / "state"
            state.mkdir()
            env = {**os.environ, "KINSTALL_HOME": str(state)}
            plain_env = {**env, **engine.controller_env(tmp / "plain", len(lab.nodes))}
            commands = {
                "kinstall up": [str(bin_dir / "kinstall"), "up", inventory, "--yes", "--stages", "os",
                                "--playbook-dir", str(tmp)],
                "ansible-playbook": [str(bin_dir / "ansible-playbook"), "-i", inventory, str(book), "-f",
                                     str(engine.forks(len(lab.nodes)))],
            }
            timed(commands["ansible-playbook"], plain_env)  # warm: SSH control masters, caches
            times = {name: [] for name in commands}
            for _ in range(args.repeat):
                times["kinstall up"].append(timed(commands["kinstall up"], env))
                times["ansible-playbook"].append(timed(commands["ansible-playbook"], plain_env))
    finally:
        labs.down(LAB)
    print(f"{args.tasks} tasks x {len(lab.nodes)} hosts, {args.repeat} runs each, interleaved (median, min)")
    for name, values in times.items():
        print(f"  {name:<18} {statistics.median(values):7.2f} s  {min(values):7.2f} s")
    ratio = statistics.median(times["kinstall up"]) / statistics.median(times["ansible-playbook"])
    print(f"  ratio kinstall/ansible-playbook {ratio:5.3f}  (overhead {100 * (ratio - 1):+.1f} %; target < +10 %)")


if __name__ == "__main__":
    main()
