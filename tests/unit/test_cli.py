import json

import pytest
from click.testing import CliRunner

from installer.cli import cli
from installer.errors import ExitCode
from tests.paths import FIXTURES, ROOT, SAMPLES


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, name
        assert run(name, "--help").exit_code == 0
        assert f"kinstall {name}" in readme, f"README does not document `kinstall {name}`"


def test_exit_codes_are_documented_in_the_readme_and_in_troubleshooting():
    readme = (ROOT / "README.md").read_text()
    troubleshooting = (ROOT / "docs" / "troubleshooting.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, code.name
        assert f"\n## {int(code)}: " in troubleshooting, code.name


def test_validate_valid_and_invalid_exit_codes():
    assert run("validate", SAMPLES / "ha-calico").exit_code == 0
    assert run("validate", FIXTURES / "invalid-etcd-even" / "hosts.yaml").exit_code == 1


def test_validate_missing_file_is_a_usage_error():
    result = run("validate", "/nonexistent/hosts.yaml")
    assert result.exit_code == 2
    assert "inventory '/nonexistent/hosts.yaml' does not exist" in result.output
    assert "Traceback" not in result.output


def test_unknown_option_is_a_usage_error():
    assert run("validate", "--bogus", "x").exit_code == 2


def test_validate_json_report():
    result = run("validate", "--format", "json", FIXTURES / "invalid-etcd-even" / "hosts.yaml")
    body = json.loads(result.output)
    assert result.exit_code == 1
    assert body["valid"] is False and body["errors"] == 1
    error = next(f for f in body["findings"] if f["severity"] == "error")
    assert error["path"] == "$.all.children.etcd"
    assert error["rule"] == "etcd-count"
    ok = json.loads(run("validate", "--format", "json", SAMPLES / "all-in-one").output)
    assert ok["valid"] is True and ok["cluster"]["hosts"] == 1


def test_plan_text_and_json():
    text = run("plan", SAMPLES / "ha-calico")
    assert text.exit_code == 0 and "control-plane  [cp1] then [cp2] then [cp3]" in text.output
    body = json.loads(run("plan", "--format", "json", SAMPLES / "ha-calico").output)
    assert [s["name"] for s in body["stages"]][:2] == ["preflight", "os"]


def test_plan_refuses_an_invalid_inventory_with_the_report():
    result = run("plan", FIXTURES / "invalid-etcd-even" / "hosts.yaml")
    assert result.exit_code == 1
    assert "the etcd group has 2 hosts" in result.output
    assert "1 error in the inventory; nothing was changed" in result.output


def test_schema_command_prints_the_schema():
    body = json.loads(run("schema").output)
    assert "kube_version" in body["$defs"]["vars"]["properties"]


def test_internal_errors_hide_the_traceback_unless_debug(monkeypatch):
    import installer.inventory.validate as validate_module

    def boom(path):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(validate_module, "validate", boom)
    quiet = run("validate", SAMPLES / "all-in-one")
    assert quiet.exit_code == 70
    assert "internal error: RuntimeError: kaboom" in quiet.output and "Traceback" not in quiet.output
    loud = run("--debug", "validate", SAMPLES / "all-in-one")
    assert isinstance(loud.exception, RuntimeError)


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()))
def test_every_sample_inventory_validates_and_plans(sample):
    assert run("validate", SAMPLES / sample).exit_code == 0
    assert run("plan", SAMPLES / sample).exit_code == 0


def test_ctrl_c_outside_a_run_exits_as_interrupted(monkeypatch):
    import installer.inventory.validate as validate_module

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(validate_module, "validate", interrupted)
    result = run("validate", SAMPLES / "all-in-one")
    assert result.exit_code == 5 and "kinstall: interrupted" in result.output


def test_a_reader_that_stops_early_gets_no_error():
    """`kinstall plugins | head -1`: a reader that closes the pipe before kinstall writes (here at
    once, before kinstall has even started) is not an internal error."""
    import subprocess
    import sys

    run = subprocess.Popen([sys.executable, "-m", "installer", "plugins"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    run.stdout.close()
    errors = run.stderr.read()
    assert run.wait(timeout=60) == 0 and errors == ""
