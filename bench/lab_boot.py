#!/usr/bin/env python3
"""Lab figures: node image build (cold and cached) and boot-to-SSH for 1, 3 and 6 nodes, each
against the floor of the same run: plain `podman run` of the same image (containers started,
nothing waited for). Prints figures; never passes or fails on time.

Usage: python bench/lab_boot.py [--cold] [--sizes 1,3,6]
  --cold  also remove the image and the debootstrap package cache first, to time a build from
          nothing (this downloads ~60 MB of Debian packages).
"""

from __future__ import annotations

import argparse
import shutil
import time

from installer import paths
from installer.lab import image, nodes, podman

LAB = "bench-boot"


def floor(count: int, tag: str) -> float:
    """Plain podman: create a network and start `count` containers of the image."""
    network = "kinstall-bench-floor"
    names = [f"bench-floor-{i}" for i in range(count)]
    start = time.perf_counter()
    podman.run("network", "create", network)
    for name in names:
        podman.run("run", "-d", "--name", name, "--network", network, "--systemd=always", "--privileged", tag)
    elapsed = time.perf_counter() - start
    for name in names:
        podman.run("rm", "-f", "-t", "1", name)
    podman.run("network", "rm", "-f", network)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--sizes", default="1,3,6")
    args = parser.parse_args()
    if LAB in nodes.names():
        nodes.down(LAB)
    if args.cold:
        for line in podman.run("images", "--format", "{{.Repository}}:{{.Tag}}").split():
            if line.startswith(image.REPOSITORY):
                podman.run("rmi", "-f", line)
        shutil.rmtree(paths.cache() / "debootstrap", ignore_errors=True)
    start = time.perf_counter()
    tag, built = image.ensure()
    first = time.perf_counter() - start
    start = time.perf_counter()
    image.ensure()
    cached = time.perf_counter() - start
    kind = "cold (no image, no package cache)" if args.cold else ("no image" if built else "already built")
    print(f"node image {tag}")
    print(f"  first ensure, {kind:<36} {first:7.2f} s")
    print(f"  cached ensure                                         {cached:7.2f} s")
    print("boot to SSH (lab up: network, keys, containers, systemd running, SSH with host key checked)")
    print(f"  {'nodes':>5}  {'lab up':>8}  {'plain podman run':>16}  {'ratio':>6}  {'lab up again (reuse)':>20}")
    for count in (int(n) for n in args.sizes.split(",")):
        base = floor(count, tag)
        start = time.perf_counter()
        nodes.up(LAB, nodes=count)
        boot = time.perf_counter() - start
        start = time.perf_counter()
        nodes.up(LAB, nodes=count)
        reuse = time.perf_counter() - start
        nodes.down(LAB)
        print(f"  {count:>5}  {boot:7.2f}s  {base:15.2f}s  {boot / base:6.2f}  {reuse:19.2f}s")


if __name__ == "__main__":
    main()
