#!/usr/bin/env python3
"""A real Kubernetes cluster on a fresh 3-node lab (v1.20.2 from the lab's bundle, the bridge
network): the first `kinstall up` of every stage, its no-op re-run, and the raw Ansible floor in
the same run (see lab_runs.py). Prints figures, each stage's time in both runs and the re-run's
changes; never passes or fails on time.

Usage: python bench/lab_cluster.py [--keep]
"""

from __future__ import annotations

import argparse

from lab_runs import measure, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    measured = measure("bench-cluster", keep=args.keep)
    ran = [name for name, *_ in measured.stage_rows()]
    print(f"a real Kubernetes 1.20.2 cluster ({', '.join(ran)}) on {measured.nodes} lab nodes")
    report(measured)


if __name__ == "__main__":
    main()
