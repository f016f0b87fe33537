"""Every validation rule has a valid and an invalid fixture under tests/fixtures/inventories/.
expected.txt holds exactly what `kinstall validate` prints there, and its exit code."""

import pytest
from click.testing import CliRunner

from installer.cli import cli
from tests.paths import FIXTURES

CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _inventory(case_dir):
    return next(name for name in ("hosts.yaml", "inventory.ini") if (case_dir / name).exists())


@pytest.mark.parametrize("case", CASES)
def test_validate_prints_exactly_the_expected_report(case, monkeypatch):
    case_dir = FIXTURES / case
    monkeypatch.chdir(case_dir)
    *expected_lines, exit_line = (case_dir / "expected.txt").read_text().splitlines()
    result = CliRunner().invoke(cli, ["validate", _inventory(case_dir)])
    assert result.output.splitlines() == expected_lines
    assert f"exit {result.exit_code}" == exit_line


def test_fixture_set_has_both_verdicts():
    assert any(c.startswith("valid-") for c in CASES) and any(c.startswith("invalid-") for c in CASES)
    for case in CASES:
        exit_line = (FIXTURES / case / "expected.txt").read_text().splitlines()[-1]
        assert exit_line == ("exit 0" if case.startswith("valid-") else "exit 1"), case


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("invalid-")])
def test_each_invalid_fixture_fails_on_a_rule_of_its_own(case, monkeypatch):
    """An invalid fixture must fail for its own reason: its first error is not an accident of the
    base inventory, which the valid-minimal fixture proves clean."""
    case_dir = FIXTURES / case
    monkeypatch.chdir(case_dir)
    from installer.inventory.validate import validate

    assert not validate(_inventory(case_dir)).report.ok
