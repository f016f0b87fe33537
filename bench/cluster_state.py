#!/usr/bin/env python3
"""What keeping the cluster's state on the cluster costs a run (runner/custody.py): on a 3-node
lab (three control planes and etcd members: every host keeps the state), the open (ids, lock,
history and secrets read in one Ansible run) and the close (record, secrets where they changed,
lock released, in one Ansible run) of a run, each beside the floor of one Ansible run on the same
hosts (`ansible -m ping`), interleaved; the record is the size of a real cluster's (600 tasks),
and the secrets those of a cluster (an etcd CA and 5 certificates). Prints figures, with the
controller's CPU; never passes or fails on time.

Usage: python bench/cluster_state.py [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import timed

from installer.inventory.validate import validate
from installer.lab import nodes as labs
from installer.runner import custody, engine, records

LAB = "bench-state"


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _record(run_id: str, cluster: str, hosts: list[str]) -> records.RunRecord:
    record = records.RunRecord(id=run_id, cluster=cluster, command="kinstall up bench", started=time.time(),
                               inputs={"mode": "up", "stages": ["preflight"]}, status=records.SUCCESSFUL)
    record.tasks = [records.TaskRecord("os", hosts[i % len(hosts)], f"task {i}", "os", 0.1, False, "ok")
                    for i in range(600)]
    return record


def _fill_pki(pki: Path) -> None:
    """A cluster's secrets, made once: the first run's close sends them to the hosts."""
    module = engine.ROLES / "kinstall_lib" / "library" / "kinstall_pki.py"
    args = pki.parent / "pki-args.json"
    certificates = [{"name": f"member-{i}", "common_name": f"m{i}", "usages": ["server", "client"]} for i in range(5)]
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"directory": str(pki / "etcd"), "ca_common_name": "etcd-ca",
                                                        "certificates": certificates}}))
    subprocess.run([sys.executable, str(module), str(args)], check=True, capture_output=True)
    args.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    if LAB in labs.names():
        labs.down(LAB)
    lab = labs.up(LAB, nodes=3, control_planes=3).lab
    inventory, home = str(lab.inventory), os.environ.get("KINSTALL_HOME")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["KINSTALL_HOME"] = str(Path(tmp) / "home")  # the runs' own; the lab stays where it is
            cluster = validate(inventory).cluster
            anchors = custody.anchors(cluster, [])
            ping = [str(Path(sys.executable).parent / "ansible"), "-i", inventory, ",".join(anchors),
                    "-m", "ansible.builtin.ping"]
            env = {**os.environ, **engine.controller_env(Path(tmp) / "plain", len(cluster.hosts))}
            opens, closes, floors, cpus = [], [], [], []
            for attempt in range(args.repeat + 1):  # the first: the id and secrets written, not counted
                run_id = records.new_run_id()
                cpu = _cpu()
                started = time.perf_counter()
                with custody.held(cluster, run_id, "kinstall up bench", []) as held:
                    opened = time.perf_counter()
                    if attempt == 0:
                        _fill_pki(held.pki)
                    held.record = _record(run_id, cluster.name, anchors)
                    closing = time.perf_counter()
                ended = time.perf_counter()
                floors.append(timed(ping, env))
                if attempt:
                    opens.append(opened - started)
                    closes.append(ended - closing)
                    cpus.append(_cpu() - cpu)
            floor = statistics.median(floors[1:])
            print(f"the cluster's own state on {len(anchors)} anchors ({', '.join(anchors)}), median of "
                  f"{args.repeat} runs (seconds):")
            print(f"  open  (ids, lock, history, secrets): {statistics.median(opens):5.2f}  "
                  f"{statistics.median(opens) / floor:4.2f} x one Ansible run")
            print(f"  close (record, lock released):       {statistics.median(closes):5.2f}  "
                  f"{statistics.median(closes) / floor:4.2f} x one Ansible run")
            print(f"  one Ansible run (ansible -m ping):   {floor:5.2f}")
            print(f"  controller CPU of open + close:      {statistics.median(cpus):5.2f} (user + system, "
                  "kinstall and its Ansible processes)")
    finally:
        if home is None:
            os.environ.pop("KINSTALL_HOME", None)
        else:
            os.environ["KINSTALL_HOME"] = home
        if not args.keep:
            labs.down(LAB)


if __name__ == "__main__":
    main()
