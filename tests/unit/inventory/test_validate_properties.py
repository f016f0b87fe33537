"""Whatever the input, validate answers with a report (or a cluster), never an exception; and a
valid inventory always yields a cluster that plans."""

import copy
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installer import plan
from installer.inventory.validate import validate
from tests.paths import SAMPLES

SETTINGS = settings(max_examples=int(os.environ.get("KINSTALL_HYPOTHESIS_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=20),
                    st.sampled_from(["10.0.0.0/8", "1.35.8", "true", "calico", "romana", "{{ x }}", "20%", "0"]))
keys = st.one_of(st.text(max_size=12), st.sampled_from([
    "all", "hosts", "children", "vars", "kube_control_plane", "kube_node", "etcd", "k8s_cluster", "kube-master",
    "kube_version", "kube_network_plugin", "kube_pods_subnet", "ip", "ansible_host", "upgrade_batch"]))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def _check(path):
    result = validate(path)
    assert result.report is not None
    if result.report.ok:
        assert result.cluster is not None
        plan.render(plan.make(result.cluster))
    else:
        assert result.cluster is None
        result.report.as_text()


@SETTINGS
@given(document=documents)
def test_random_yaml_documents(tmp_path, document):
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(document))
    _check(path)


@SETTINGS
@given(text=st.text(max_size=300))
def test_random_text_as_yaml_and_ini(tmp_path, text):
    for name in ("hosts.yaml", "inventory.ini"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        _check(path)


BASE = yaml.safe_load((SAMPLES / "ha-calico" / "hosts.yaml").read_text())
BASE_VARS = yaml.safe_load((SAMPLES / "ha-calico" / "group_vars" / "k8s_cluster.yml").read_text())
BASE["all"]["vars"].update(BASE_VARS)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _mutate(document, path, action, value, key):
    parent_path, last = path[:-1], path[-1]
    parent = document
    for part in parent_path:
        parent = parent[part]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "rename" and isinstance(parent, dict):
        parent[key] = parent.pop(last)
    elif action == "insert" and isinstance(parent[last], dict):
        parent[last][key] = value


@SETTINGS
@given(data=st.data())
def test_random_mutations_of_a_valid_inventory(tmp_path, data):
    document = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        _mutate(document, data.draw(st.sampled_from(paths)),
                data.draw(st.sampled_from(["delete", "replace", "rename", "insert"])),
                data.draw(documents), data.draw(keys))
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(document))
    _check(path)


def test_the_unmutated_base_is_valid(tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert validate(path).report.ok
