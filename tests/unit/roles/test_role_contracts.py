"""Every role documents each of its variables in its README, declares it in
meta/argument_specs.yml with a role-name prefix, and kinstall's stage playbooks exist only for
stages the plan knows."""

import ast
import re

import pytest
import yaml

from installer import plugins, stages
from installer.inventory import schema
from installer.runner.engine import plugin_facts
from tests.paths import PLAYBOOKS, ROLES, ROOT

ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / "tasks" / "main.yml").exists())


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_defaults_readme_and_argument_specs_agree(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    readme = (role / "README.md").read_text()
    for name in defaults:
        assert name.startswith(role.name + "_"), f"{name} lacks the prefix {role.name}_"
        assert f"`{name}`" in readme, f"{name} is not in {role.name}/README.md"
        assert name in specs, f"{name} is not in {role.name}/meta/argument_specs.yml"
    own = {name for name in specs if name.startswith(role.name + "_") and name not in schema.variables()}
    assert own == set(defaults), "argument_specs declares variables without a default"


SETTING_DEFAULT = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\|\s*default\(")


def test_no_role_or_playbook_restates_a_settings_default():
    """The settings' defaults reach the roles from one place (kinstall_lib's generated defaults,
    every role's dependency; a kinstall run passes every resolved setting): a `| default(...)` of
    a setting that has one would be a second, free to drift (verify once assumed calico's backend
    was bird where the schema says vxlan)."""
    with_default = {name for name in schema.variables() if schema.default(name) is not None}
    found = []
    for path in sorted([*ROLES.rglob("*.yml"), *ROLES.rglob("*.j2"), *PLAYBOOKS.glob("*.yml")]):
        if path == ROLES / "kinstall_lib" / "defaults" / "main.yml":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found += [f"{path.relative_to(ROOT)}:{number}: {m[1]}" for m in SETTING_DEFAULT.finditer(line)
                      if m[1] in with_default]
    assert found == []
    for role in ROLES.iterdir():
        if role.name != "kinstall_lib":
            meta = yaml.safe_load((role / "meta" / "main.yml").read_text())
            assert "kinstall_lib" in meta["dependencies"], f"{role.name} does not get the settings' defaults"
    # the check can fail: a restated default is found
    assert SETTING_DEFAULT.search("{{ local_release_dir | default('/tmp') }}")[1] in with_default


def test_playbooks_are_named_after_stages_or_operations():
    operations = {operation.name for operation in stages.OPERATIONS}
    for playbook in PLAYBOOKS.glob("*.yml"):
        assert playbook.stem in stages.NAMES or playbook.stem in operations, \
            f"playbooks/{playbook.name} is neither a stage nor an operation"
    assert all((PLAYBOOKS / operation.playbook).exists() for operation in stages.OPERATIONS)


def test_molecule_base_config_carries_the_registrys_calico_facts():
    base = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    shipped = base["provisioner"]["inventory"]["group_vars"]["all"]["kinstall_network_plugin"]
    assert shipped == plugin_facts(plugins.get("calico"))


def test_commands_and_shells_say_when_they_change_something():
    for tasks in ROLES.glob("*/tasks/*.yml"):
        for task in _tasks(yaml.safe_load(tasks.read_text()) or []):
            if {"ansible.builtin.command", "ansible.builtin.shell", "command", "shell"} & set(task):
                assert "changed_when" in task, f"{tasks.relative_to(ROOT)}: '{task.get('name')}' has no changed_when"


def _tasks(items):
    for task in items:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key, []))


def test_every_playbook_role_and_scenario_file_is_valid_yaml():
    files = [p for d in (PLAYBOOKS, ROLES, ROOT / "molecule") for p in d.rglob("*.yml")]
    assert len(files) > 100
    for path in files:
        yaml.safe_load(path.read_text())  # raises, naming the file and line, on a syntax error


def test_tungsten_fabrics_hugepages_follow_the_inventory_into_the_kernel_settings():
    plugin = plugins.get("opencontrail")
    assert plugin_facts(plugin)["sysctls"]["vm.nr_hugepages"] == 1024  # the setting's default
    facts = plugin_facts(plugin, {"contrail_hugepages_2mb": 2048})
    assert facts["sysctls"] == {"vm.max_map_count": 128960, "vm.nr_hugepages": 2048}
    assert facts["hugepages_2mb"] == 2048 and facts["min_memory_mb"] == {"contrail_controller": 32768}
    assert "vm.nr_hugepages" not in plugin_facts(plugins.get("calico"))["sysctls"]


@pytest.mark.parametrize("module", sorted(ROLES.glob("*/library/*.py")), ids=lambda p: p.stem)
def test_each_modules_documentation_is_yaml_whose_options_have_only_ansibles_keys(module):
    """An unquoted comma in a flow mapping makes a stray key of the rest of a description."""
    tree = ast.parse(module.read_text())
    (documentation,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                        and getattr(node.targets[0], "id", "") == "DOCUMENTATION"]
    options = yaml.safe_load(documentation)["options"]
    for name, option in options.items():
        assert set(option) <= {"type", "elements", "required", "description", "default", "choices", "no_log",
                               "suboptions"}, (name, option)
    arguments = [node for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "argument_spec"]
    if arguments and isinstance(arguments[0].value, ast.Dict):
        assert {key.value for key in arguments[0].value.keys} == set(options)


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_argument_specs_options_have_only_ansibles_keys(role):
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for name, option in specs.items():
        assert set(option) <= {"type", "elements", "required", "description", "default", "choices", "options",
                               "no_log"}, (name, option)
