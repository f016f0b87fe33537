#!/usr/bin/env python3
"""The node stages on a fresh 3-node lab: the first `kinstall up` (preflight, os, download,
runtime, etcd, loadbalancer), the no-op re-run, and the raw Ansible floor in the same run (see
lab_runs.py). Prints figures and each stage's changes on the re-run; never passes or fails on
time.

Usage: python bench/lab_install.py [--keep]
"""

from __future__ import annotations

import argparse

from lab_runs import measure, report

STAGES = ["preflight", "os", "download", "runtime", "etcd", "loadbalancer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    measured = measure("bench-install", STAGES, keep=args.keep)
    print(f"node stages ({', '.join(STAGES)}) on {measured.nodes} lab nodes")
    report(measured, target="; target < 30 %")


if __name__ == "__main__":
    main()
