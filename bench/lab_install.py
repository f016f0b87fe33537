#!/usr/bin/env python3
"""The node stages on a fresh 3-node lab: the first `kinstall up` (preflight, os, download,
runtime, etcd, loadbalancer), the no-op re-run, and the raw Ansible floor in the same run: one
plain `ansible-playbook`, as kinstall runs one, with a play per stage on the same hosts, the same
fact gathering and as many trivial tasks as the stage ran. Prints figures and each stage's changes on the re-run; never passes or fails
on time.

Usage: python bench/lab_install.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

from installer.lab import nodes as labs
from installer.runner import engine
from timing import timed

LAB = "bench-install"
STAGES = ["preflight", "os", "download", "runtime", "etcd", "loadbalancer"]


def last_record(home: Path) -> dict:
    found = sorted(home.glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    return json.loads(found[-1].read_text())


def floor_playbook(directory: Path, record: dict) -> Path:
    plays = []
    for stage in STAGES:
        source = yaml.safe_load((engine.PLAYBOOKS / f"{stage}.yml").read_text())[0]
        tasks = sorted({t["task"] for t in record["tasks"] if t["stage"] == stage})
        plays.append({"name": stage, "hosts": source["hosts"], "gather_facts": True,
                      "gather_subset": source.get("gather_subset", ["all"]),
                      "tasks": [{"name": f"trivial {i}", "ansible.builtin.ping": None} for i in range(len(tasks))]})
    path = directory / "floor.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    if LAB in labs.names():
        labs.down(LAB)
    lab = labs.up(LAB, nodes=3).lab
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = {**os.environ, "KINSTALL_HOME": str(tmp / "home"), "KINSTALL_CACHE": str(tmp / "cache"),
                   "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
            up = [str(bin_dir / "kinstall"), "up", str(lab.inventory), "--yes", "--stages", ",".join(STAGES)]
            first = timed(up, env)
            rerun = timed(up, env)
            record = last_record(tmp / "home")
            plain_env = {**env, **engine.controller_env(tmp / "plain", len(lab.nodes))}
            overlay = tmp / "groups.yml"
            from installer.inventory.validate import validate
            overlay.write_text(json.dumps(validate(lab.inventory).cluster.ansible_overlay))
            floor = timed([str(bin_dir / "ansible-playbook"), "-i", str(lab.inventory), "-i", str(overlay),
                           str(floor_playbook(tmp, record))], plain_env)
    finally:
        if not args.keep:
            labs.down(LAB)
    print(f"node stages ({', '.join(STAGES)}) on {len(lab.nodes)} lab nodes")
    print(f"  first run            {first:7.1f} s")
    print(f"  no-op re-run         {rerun:7.1f} s   ({100 * rerun / first:.0f} % of the first run; target < 30 %)")
    print(f"  raw Ansible floor    {floor:7.1f} s   (same hosts, facts and task count per stage)")
    print(f"  re-run / floor       {rerun / floor:7.2f}")
    for stage in record["stages"]:
        changed = sum(1 for t in record["tasks"] if t["stage"] == stage["name"] and t["changed"])
        print(f"  re-run {stage['name']:<13} {stage['ended'] - stage['started']:6.1f} s  changed {changed}")


if __name__ == "__main__":
    main()
