"""Every Molecule scenario runs the whole sequence (idempotence included) on lab nodes, pulling nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from installer.lab import image
from tests.paths import ROOT

pytestmark = pytest.mark.lab


SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_passes_molecule_test(scenario):
    image.ensure()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    result = subprocess.run([str(bin_dir / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "idempotence: Executed: Successful" in output
    assert "verify: Executed: Successful" in output
    if (ROOT / "molecule" / scenario / "side_effect.yml").exists():
        assert "side_effect: Executed: Successful" in output
    assert "failed=0" in output.split("SCENARIO RECAP")[-1]
