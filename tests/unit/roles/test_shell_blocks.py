"""shellcheck on every shell block of the roles and playbooks, as the shell that runs it (bash
where the task says so, else sh). Each Jinja expression becomes a word of its own; a block's
Jinja statements ({% for %} ...) are left out, so a loop over a Jinja-joined list looks like a
loop over one word (SC2043, not checked)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.paths import PLAYBOOKS, ROLES

SHELLCHECK = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")


def _tasks(items):
    for task in items or []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always", "tasks", "handlers", "pre_tasks", "post_tasks"):
                yield from _tasks(task.get(key))


def _blocks():
    files = sorted([*ROLES.glob("*/tasks/*.yml"), *ROLES.glob("*/handlers/*.yml"), *PLAYBOOKS.glob("*.yml")])
    for path in files:
        for task in _tasks(yaml.safe_load(path.read_text())):
            script = task.get("ansible.builtin.shell")
            if isinstance(script, str):
                shell = "bash" if "bash" in str((task.get("args") or {}).get("executable", "")) else "sh"
                yield pytest.param(script, shell, id=f"{path.parent.parent.name}/{path.stem}: {task.get('name')}")


def _as_shell(script: str) -> str:
    script = script.replace("{{ '{{' }}", "{{").replace("{{ '}}' }}", "}}")
    script = re.sub(r"\{%-?.*?-?%\}\n?", "", script, flags=re.S)
    count = iter(range(1, 10_000))
    return re.sub(r"\{\{.*?\}\}", lambda _: f"JINJA_VALUE_{next(count)}", script, flags=re.S)


@pytest.mark.parametrize(("script", "shell"), list(_blocks()))
def test_shell_blocks_pass_shellcheck(script, shell):
    result = subprocess.run([SHELLCHECK, "--shell", shell, "--severity", "warning", "--exclude", "SC2043",
                             "--format", "gcc", "-"], input=_as_shell(script), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _included(path: Path) -> str:
    """The template with its {% include %}s put in as Jinja (Ansible's trim_blocks) renders them:
    the included file's last newline and the newline after the tag are both dropped."""
    def put_in(match):
        return (path.parent / match.group(1)).read_text().removesuffix("\n")
    return re.sub(r"\{% include '([^']+)' %\}\n?", put_in, path.read_text())


def _script_templates():
    for path in sorted(ROLES.glob("*/templates/*.j2")):
        first = path.read_text().split("\n", 1)[0]
        if first.startswith("#!"):
            yield pytest.param(_included(path), "bash" if "bash" in first else "sh",
                               id=f"{path.parent.parent.name}/templates/{path.name}")


@pytest.mark.parametrize(("script", "shell"), list(_script_templates()))
def test_script_templates_pass_shellcheck(script, shell):
    result = subprocess.run([SHELLCHECK, "--shell", shell, "--severity", "warning", "--exclude", "SC2043",
                             "--format", "gcc", "-"], input=_as_shell(script), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
