#!/usr/bin/env python3
"""Time `kinstall validate` on a 5,000-host inventory against `ansible-inventory --list` on the
same file, in the same run. Prints figures; never passes or fails on time.

Usage: python bench/validate_scale.py [--hosts N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed

BIN = Path(sys.executable).parent


def build(directory: Path, hosts: int) -> Path:
    """A Kubespray-shaped inventory: 3 control plane/etcd hosts, the rest workers, settings in
    group_vars/k8s_cluster.yml, every host with ansible_host and ip."""
    lines = ["all:", "  hosts:"]
    names = [f"node{i:05d}" for i in range(hosts)]
    for i, name in enumerate(names):
        address = f"172.{16 + i // 65000}.{(i // 250) % 256}.{i % 250 + 1}"
        lines.append(f"    {name}: {{ansible_host: {address}, ip: {address}}}")
    lines += ["  children:", "    kube_control_plane:", "      hosts:"] + [f"        {n}:" for n in names[:3]]
    lines += ["    etcd:", "      hosts:"] + [f"        {n}:" for n in names[:3]]
    lines += ["    kube_node:", "      hosts:"] + [f"        {n}:" for n in names[3:]]
    lines += ["    k8s_cluster:", "      children:", "        kube_control_plane:", "        kube_node:"]
    (directory / "group_vars").mkdir()
    (directory / "group_vars" / "k8s_cluster.yml").write_text(
        "kube_version: 1.36.4\nkube_network_plugin: calico\nkube_pods_subnet: 10.128.0.0/9\n"
        "kube_service_addresses: 10.96.0.0/12\nkube_network_node_prefix: 24\n")
    path = directory / "hosts.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), args.hosts)
        commands = {
            "kinstall validate": [str(BIN / "kinstall"), "validate", str(path)],
            "ansible-inventory --list": [str(BIN / "ansible-inventory"), "-i", str(path), "--list"],
        }
        times = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            for name, command in commands.items():
                times[name].append(timed(command))
    print(f"inventory: {args.hosts} hosts, {args.repeat} runs each (median, min)")
    for name, values in times.items():
        print(f"  {name:<26} {statistics.median(values):7.2f} s  {min(values):7.2f} s")
    ratio = statistics.median(times["kinstall validate"]) / statistics.median(times["ansible-inventory --list"])
    print(f"  ratio kinstall/ansible     {ratio:7.2f}  (target: <= 1)")


if __name__ == "__main__":
    main()
