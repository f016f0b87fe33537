import json

import pytest
from jsonschema import Draft202012Validator

from installer import plugins
from installer.inventory import schema
from installer.inventory.documents import load_yaml


def _messages(text, root="inventory"):
    doc, _ = load_yaml(text, "h.yml")
    return [f.text() for f in schema.validate_document(doc, root)]


def test_published_schema_is_a_valid_draft_2020_12_schema():
    full = schema.schema()
    Draft202012Validator.check_schema(full)
    assert full["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_variable_has_a_description_and_known_scope():
    for name, spec in schema.variables().items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("x-kinstall-scope", "cluster") in ("cluster", "host", "connection"), name


def test_network_plugin_enum_is_the_registry():
    shipped = json.loads((schema.resources.files("installer.inventory") / "schema.json").read_text())
    assert shipped["$defs"]["vars"]["properties"]["kube_network_plugin"]["enum"] == plugins.names()
    assert schema.default("kube_network_plugin") == plugins.DEFAULT


def test_plugin_settings_come_from_each_plugin_and_are_tagged():
    for plugin in plugins.REGISTRY.values():
        for name in plugin.settings:
            assert schema.variables()[name]["x-kinstall-plugin"] == plugin.name


def test_unknown_variable_gets_a_suggestion_at_the_keys_line():
    assert _messages("all:\n  vars:\n    kube_pods_subnett: 10.0.0.0/16\n") == [
        "h.yml:3:5: $.all.vars.kube_pods_subnett: unknown variable 'kube_pods_subnett'; did you mean 'kube_pods_subnet'?"]


def test_a_variable_far_from_every_known_name_is_a_warning_without_a_suggestion():
    assert _messages("zzz_qqq: 1\n", root="vars") == [
        "h.yml:1:1: $.zzz_qqq: warning: variable 'zzz_qqq' is neither kinstall's nor Kubespray's: kinstall "
        "does not use it (Ansible still sees it)"]


def test_kinstalls_old_name_of_a_kubespray_setting_names_the_new_one():
    assert _messages("calico_nat_outgoing: false\n", root="vars") == [
        "h.yml:1:1: $.calico_nat_outgoing: 'calico_nat_outgoing' is now 'nat_outgoing', Kubespray's name for it: "
        "rename it"]


def test_templated_values_are_left_to_ansible():
    assert _messages("all:\n  vars:\n    kube_network_node_prefix: '{{ prefix }}'\n") == []


def test_a_group_of_the_wrong_type_is_reported():
    assert _messages("all:\n  children:\n    etcd:\n      hosts: [a, b]\n") == [
        "h.yml:4:14: $.all.children.etcd.hosts: expected a mapping, got a list"]


@pytest.mark.parametrize("value, message", [
    ("'0%'", "'0%' is not a count such as 1 or a share of the workers such as 20%"),
    ("0", "0 is out of range: it must be at least 1"),
    ("'20%'", None),
    ("3", None),
])
def test_upgrade_batch_forms(value, message):
    found = _messages(f"upgrade_batch: {value}\n", root="vars")
    assert found == ([f"h.yml:1:16: $.upgrade_batch: {message}"] if message else [])


def test_value_is_valid():
    assert schema.value_is_valid("kube_pods_subnet", "10.0.0.0/16")
    assert not schema.value_is_valid("kube_pods_subnet", "10.0.0.1/16")
    assert schema.value_is_valid("kube_pods_subnet", "{{ x }}")
