from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "inventories"
SAMPLES = ROOT / "inventories"
# kinstall's Ansible content: package data of the installer package.
ROLES = ROOT / "installer" / "roles"
PLAYBOOKS = ROOT / "installer" / "playbooks"
