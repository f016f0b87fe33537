from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path):
    """write({'hosts.yaml': text, 'group_vars/all.yml': text}) -> tmp_path with those files."""

    def _write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return tmp_path

    return _write


def pytest_addoption(parser):
    parser.addoption("--keep-lab", action="store_true",
                     help="keep the integration lab after the run (it is always kept when a test failed)")
