"""What the bench scripts share: timing one command, which must succeed."""

from __future__ import annotations

import subprocess
import sys
import time


def timed(command: list[str], env: dict | None = None) -> float:
    """Wall-clock seconds of one run of command; exits with its output if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed ({result.returncode}):\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed
