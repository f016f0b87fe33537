"""docs/settings.md is the schema's, word for word: a setting added, renamed or given another
default changes the page in the same change (`scripts/settings-reference` writes it)."""

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
