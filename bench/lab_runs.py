"""What bench/lab_install.py and bench/lab_cluster.py share: on a fresh lab, time the first
`kinstall up` and its no-op re-run, then the raw Ansible floor: one plain `ansible-playbook`, as
kinstall runs one, with a play per stage that ran on the same hosts, the same fact gathering and
as many trivial tasks as the stage ran."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from timing import timed

from installer.inventory.validate import validate
from installer.lab import nodes as labs
from installer.runner import engine


@dataclass
class Measured:
    nodes: int
    first: float
    rerun: float
    floor: float
    first_record: dict
    rerun_record: dict

    def stage_rows(self) -> list[tuple[str, float, float, int]]:
        """(stage, first run's seconds, re-run's seconds, re-run's changes) for the stages that ran."""
        first = {s["name"]: s["ended"] - s["started"] for s in self.first_record["stages"]
                 if s["status"] == "successful"}
        return [(s["name"], first.get(s["name"], 0.0), s["ended"] - s["started"],
                 sum(1 for t in self.rerun_record["tasks"] if t["stage"] == s["name"] and t["changed"]))
                for s in self.rerun_record["stages"] if s["status"] == "successful"]


def _records(home: Path) -> list[dict]:
    found = sorted(home.glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    return [json.loads(p.read_text()) for p in found]


def floor_playbook(directory: Path, record: dict) -> Path:
    plays = []
    for stage in record["stages"]:
        if stage["status"] != "successful":
            continue
        source = yaml.safe_load((engine.PLAYBOOKS / f"{stage['name']}.yml").read_text())[0]
        tasks = {t["task"] for t in record["tasks"] if t["stage"] == stage["name"]}
        plays.append({"name": stage["name"], "hosts": source["hosts"], "gather_facts": True,
                      "gather_subset": source.get("gather_subset", ["all"]),
                      "tasks": [{"name": f"trivial {i}", "ansible.builtin.ping": None} for i in range(len(tasks))]})
    path = directory / "floor.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def measure(lab_name: str, stages: list[str] | None = None, keep: bool = False) -> Measured:
    bin_dir = Path(sys.executable).parent
    if lab_name in labs.names():
        labs.down(lab_name)
    lab = labs.up(lab_name, nodes=3).lab
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = {**os.environ, "KINSTALL_HOME": str(tmp / "home"), "KINSTALL_CACHE": str(tmp / "cache"),
                   "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
            up = [str(bin_dir / "kinstall"), "up", str(lab.inventory), "--yes"]
            if stages:
                up += ["--stages", ",".join(stages)]
            first = timed(up, env)
            rerun = timed(up, env)
            first_record, rerun_record = _records(tmp / "home")[-2:]
            plain_env = {**env, **engine.controller_env(tmp / "plain", len(lab.nodes))}
            overlay = tmp / "groups.yml"
            overlay.write_text(json.dumps(validate(lab.inventory).cluster.ansible_overlay))
            floor = timed([str(bin_dir / "ansible-playbook"), "-i", str(lab.inventory), "-i", str(overlay),
                           str(floor_playbook(tmp, rerun_record))], plain_env)
    finally:
        if not keep:
            labs.down(lab_name)
    return Measured(len(lab.nodes), first, rerun, floor, first_record, rerun_record)


def report(measured: Measured, target: str = "") -> None:
    m = measured
    print(f"  first run            {m.first:7.1f} s")
    print(f"  no-op re-run         {m.rerun:7.1f} s   ({100 * m.rerun / m.first:.0f} % of the first run{target})")
    print(f"  raw Ansible floor    {m.floor:7.1f} s   (same hosts, facts and task count per stage)")
    print(f"  re-run / floor       {m.rerun / m.floor:7.2f}")
    for name, first, rerun, changed in m.stage_rows():
        print(f"  {name:<14} first {first:6.1f} s   re-run {rerun:5.1f} s  changed {changed}")
