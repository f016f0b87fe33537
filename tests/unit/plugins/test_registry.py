
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from installer import plugins, releases
from installer.cli import cli
from installer.plugins import matrix
from tests.paths import ROLES


def test_registry_holds_the_four_plugins():
    assert plugins.names() == ["calico", "romana", "opencontrail", "bridge"]
    assert [p.name for p in plugins.maintained()] == ["calico", "bridge"]


def test_bridge_runs_on_the_lab_release_and_cannot_isolate_tenants():
    bridge = plugins.get("bridge")
    assert bridge.supports_minor((1, 20)) and bridge.supports_minor((1, 36))
    assert bridge.tenant_isolation is None and bridge.ports == ()


def test_legacy_plugins_are_pinned_to_the_releases_they_run_on():
    assert plugins.get("romana").kube_minors == ((1, 15), (1, 15))
    assert plugins.get("opencontrail").kube_minors == ((1, 21), (1, 21))
    for plugin in plugins.REGISTRY.values():
        if not plugin.maintained:
            assert plugin.alternative.startswith("calico"), plugin.name


def test_every_plugin_runs_on_at_least_one_supported_release():
    for plugin in plugins.REGISTRY.values():
        assert any(plugin.supports_minor(r.tuple[:2]) for r in releases.supported().values()), plugin.name


def test_every_settings_schema_is_valid_and_prefixed_by_kubespray_names():
    for plugin in plugins.REGISTRY.values():
        for name, spec in plugin.settings.items():
            Draft202012Validator.check_schema(spec)
            assert spec.get("description"), name


# The network role's task files that are not a plugin's: the entry point and the shared manifest steps.
NETWORK_COMMON = {"main", "manifests"}


def test_cli_choices_and_the_network_roles_plugin_tasks_match_the_registry():
    show = next(p for p in cli.commands["plugins"].params if p.name == "name")
    assert list(show.type.choices) == plugins.names()
    # The network role runs tasks/<kube_network_plugin>.yml: one file per registered plugin, no other.
    tasks = {p.stem for p in (ROLES / "network" / "tasks").glob("*.yml")} - NETWORK_COMMON
    assert tasks == set(plugins.names())


def test_matrix_lists_every_plugin_with_its_releases():
    rows = {row["name"]: row for row in matrix.rows()}
    assert rows["romana"]["kubernetes"] == "1.15.0-1.15.11"
    assert rows["opencontrail"]["kubernetes"] == "1.21.0-1.21.13"
    assert rows["calico"]["kubernetes"].startswith("1.34.0-")
    assert rows["calico"]["tenant_isolation"] == "networkpolicy-v1"


def test_plugins_command_prints_one_plugin():
    result = CliRunner().invoke(cli, ["plugins", "romana"])
    assert result.exit_code == 0
    assert "romana (Romana 2.0.2, UNMAINTAINED)" in result.output
    assert "calico (" not in result.output
    assert CliRunner().invoke(cli, ["plugins", "flannel"]).exit_code == 2


def test_the_releases_list_marks_the_lab_release():
    from installer.plugins import matrix

    rows = {minor: status for minor, _, status in matrix.release_rows()}
    assert rows["1.20"] == "lab" and rows["1.36"] == "current"
    assert "1.20   1.20.0-1.20.15   end of life upstream; used for the local lab" in matrix.render()
