"""docs/settings.md is the schema's, word for word: a setting added, renamed or given another
default changes the page in the same change (`scripts/settings-reference` writes it)."""

import yaml

from installer.inventory import reference, schema
from tests.paths import ROOT


def test_the_settings_page_is_the_one_the_schema_makes():
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == reference.markdown(), "docs/settings.md is stale: run scripts/settings-reference"


def test_every_setting_is_on_the_page_once_and_no_secret_default_shows():
    page = reference.markdown()
    for name in schema.variables():
        assert page.count(f"| `{name}`") == 1, name
    assert "(secret: none)" in page


def test_the_roles_defaults_are_the_schemas():
    path = ROOT / reference.ROLE_DEFAULTS
    assert path.read_text() == reference.role_defaults(), f"{path} is stale: run scripts/settings-reference"
    values = yaml.safe_load(path.read_text())
    assert values["calico_network_backend"] == "vxlan" and values["local_release_dir"] == "/var/cache/kinstall/releases"
    assert not any(schema.secret(name) for name in values)
