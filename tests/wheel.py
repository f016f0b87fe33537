"""kinstall as a user installs it: the wheel built from this tree, installed into a fresh venv in a
directory of its own, run from an empty directory. Its dependencies come from the test venv (a
path line, so the test venv's editable install of this tree is not seen)."""

import site
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT


def install(directory: Path) -> Path:
    """The installed `kinstall` command."""
    wheels = directory / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = wheels.glob("kinstall-*.whl")
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # the test venv's pip installs into the new venv (its console script included)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    (purelib,) = venv.glob("lib/python*/site-packages")
    (purelib / "dependencies-from-the-test-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin" / "kinstall"
