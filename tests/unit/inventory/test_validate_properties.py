"""Whatever the input, validate answers with a report (or a cluster), never an exception; and a
valid inventory always yields a cluster that plans."""

import copy
import os
import re
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installer import plan
from installer.inventory.validate import validate
from tests.paths import SAMPLES

SETTINGS = settings(max_examples=int(os.environ.get("KINSTALL_HYPOTHESIS_EXAMPLES", 150)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

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


# ---------------------------------------------------------------- structural mutations

def _kubespray_sample() -> dict:
    """Kubespray's sample inventory as one YAML document: its hosts, and every group_vars file's
    settings in the vars of the group the file is for."""
    root = Path(__file__).resolve().parents[2] / "fixtures" / "kubespray" / "sample"
    document = {"all": {"vars": {}, "children": {
        "kube_control_plane": {"hosts": {f"node{i}": {"ansible_host": f"95.54.0.{11 + i}", "ip": f"10.3.0.{i}",
                                                       "etcd_member_name": f"etcd{i}"} for i in (1, 2, 3)}},
        "etcd": {"children": {"kube_control_plane": None}},
        "kube_node": {"hosts": {f"node{i}": {"ansible_host": f"95.54.0.{11 + i}", "ip": f"10.3.0.{i}"}
                                for i in (4, 5, 6)}},
        "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}, "vars": {}}}}}
    for file in sorted((root / "group_vars").rglob("*.yml")):
        group = file.parent.name
        target = document["all"]["vars"] if group == "all" else document["all"]["children"][group]["vars"]
        target.update(yaml.safe_load(file.read_text()) or {})
    return document


BASES = [BASE, _kubespray_sample()]
TEMPLATED = st.sampled_from(["{{ undefined_name }}", "{{ cluster_name }}", "{{ 1 / 0 }}", "{{ lookup('env', 'HOME') }}",
                             "{% for x in y %}", "{{ [1, 2] }}", "{{ {'a': 1} }}", "{{ inventory_hostname }}",
                             "{{ kube_version }}", "{{ '10.0.0.0/8' }}", "{{", "}}{{"])
ODD = st.sampled_from([6443.0, 1e308, float("nan"), -1, 2**63, "", "a\n", "x\x00y", " ", "../..", "/", "9" * 400,
                       [], {}, [None], {"": None}, True, "True", "0x1F", "1_000"])
RANGES = st.sampled_from(["node[1:6:0]", "n[5:1]", "n[a:c]", "n[01:10:3]", "n[0:9999]", "n[1:3][a:b]", "n[:]",
                          "n[1:2:-1]", "n[z:a]", "n[1:100001]"])
TAGS = st.sampled_from(["!!timestamp", "!!bool", "!!int", "!!float", "!!binary", "!!str", "!!null", "!!set",
                        "!vault", "!unsafe", "!!python/name:os.system", "!custom"])


def _setting_paths(document):
    return [p for p in _paths(document) if len(p) >= 2 and p[-2] == "vars" and isinstance(p[-1], str)]


@settings(max_examples=int(os.environ.get("KINSTALL_HYPOTHESIS_EXAMPLES", 150)) * 2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_structural_mutations_never_crash_and_stay_fast(tmp_path, data):
    """Values moved from other settings, Jinja, odd scalars, host ranges and YAML tags, on
    kinstall's sample and Kubespray's: validate answers (a report, or a cluster that plans) within
    5 s, never with an exception (which the CLI would turn into exit 70)."""
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 5))):
        settings_paths = _setting_paths(document)
        action = data.draw(st.sampled_from(["swap", "template", "odd", "range", "tag"]))
        if action == "range":
            group = data.draw(st.sampled_from(["kube_node", "kube_control_plane"]))
            hosts = document["all"]["children"].setdefault(group, {}).setdefault("hosts", {}) or {}
            document["all"]["children"][group]["hosts"] = {**hosts, data.draw(RANGES): None}
            continue
        if not settings_paths:
            break
        path = data.draw(st.sampled_from(settings_paths))
        if action == "swap":
            other = data.draw(st.sampled_from(settings_paths))
            value = _get(document, other)
        elif action == "template":
            value = data.draw(TEMPLATED)
        elif action == "odd":
            value = data.draw(ODD)
        else:
            value = f"__TAG__{data.draw(TAGS)} {data.draw(st.sampled_from(['x', '1', '2001-12-14', 'yes', '[a]']))}"
        _mutate(document, path, "replace", value, None)
    text = yaml.safe_dump(document, allow_unicode=True)
    text = re.sub(r"'__TAG__([^']*)'|__TAG__", lambda m: m.group(1) or "", text)
    path = tmp_path / "hosts.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    _check(path)
    assert time.perf_counter() - started < 5


def _get(document, path):
    node = document
    for part in path:
        node = node[part]
    return copy.deepcopy(node)
