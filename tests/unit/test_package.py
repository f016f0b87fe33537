"""kinstall installs like a tool: the wheel carries the playbooks and roles, and an installed
kinstall plans and finds every stage's playbook without this source tree."""

import subprocess
import zipfile

from tests import wheel
from tests.paths import PLAYBOOKS, ROLES, SAMPLES


def test_the_installed_wheel_runs_its_own_playbooks_and_roles(tmp_path):
    kinstall = wheel.install(tmp_path / "install")
    (built,) = (tmp_path / "install" / "wheels").glob("*.whl")
    names = set(zipfile.ZipFile(built).namelist())
    shipped = {f"installer/playbooks/{p.name}" for p in PLAYBOOKS.glob("*.yml")}
    shipped |= {f"installer/roles/{p.relative_to(ROLES)}" for p in ROLES.rglob("*") if p.is_file()
                and "__pycache__" not in p.parts}
    assert shipped <= names, sorted(shipped - names)[:10]
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    where = subprocess.run([str(kinstall.parent / "python"), "-c", "import installer.runner.engine as e; "
                            "print(e.PLAYBOOKS)"], cwd=empty, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(tmp_path / "install" / "venv")), where.stdout
    plan = subprocess.run([str(kinstall), "plan", str(SAMPLES / "ha-calico")], cwd=empty, capture_output=True,
                          text=True, timeout=120)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "no playbook" not in plan.stdout and " 12 verify" in plan.stdout, plan.stdout
