"""Every inventory value that lands in a host's files, drawn from what the schema accepts
(hypothesis, from the schema's own patterns) and rendered where it lands by Ansible's templating:
a YAML configuration, a kubelet command-line flag, an environment file, a TOML file, a shell
command's paths, a manifest's Corefile. Each stays one key, one line, one argument."""

import os
import shlex
import tomllib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installer import releases
from installer.inventory import schema
from tests.paths import ROLES

filter_loader.add_directory(str(ROLES / "kinstall_lib" / "filter_plugins"))
SETTINGS = settings(max_examples=int(os.environ.get("KINSTALL_HYPOTHESIS_EXAMPLES", 150)) // 3 or 1, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
VARS = schema.variables()
RELEASE = list(releases.supported().values())[-1]


def accepted(*path):
    """Strings matching a pattern of the schema, as the schema's validator checks it."""
    node = VARS
    for part in path:
        node = node[part]
    return st.from_regex(node["pattern"], fullmatch=True).filter(lambda v: "\n" not in v)


def accepted_by_schema(name, strategy):
    return strategy.filter(lambda value: schema.value_is_valid(name, value))


def template(text: str, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))


def render(path: str, **variables) -> str:
    return template((ROLES / path).read_text(), **variables)


LABEL_KEYS = st.from_regex(VARS["node_labels"]["propertyNames"]["pattern"], fullmatch=True).filter(
    lambda v: "\n" not in v and len(v) <= 316)
LABEL_VALUES = accepted("node_labels", "additionalProperties")
DOMAINS = accepted_by_schema("cluster_name", accepted("cluster_name").filter(lambda v: len(v) <= 253))


@SETTINGS
@given(labels=st.dictionaries(LABEL_KEYS, LABEL_VALUES, min_size=1, max_size=4))
def test_node_labels_stay_one_kubelet_flag_of_exactly_those_labels(labels):
    joined = template("{{ labels | kinstall_labels }}", labels=labels)
    assert shlex.split(f"--node-labels={joined}") == [f"--node-labels={joined}"]
    assert dict(pair.split("=", 1) for pair in joined.split(",")) == labels


@SETTINGS
@given(taints=st.lists(accepted("node_taints", "items"), min_size=1, max_size=3))
def test_node_taints_become_exactly_those_taints(taints):
    parsed = template("{{ taints | kinstall_taints }}", taints=taints)
    assert len(parsed) == len(taints)
    for text, taint in zip(taints, parsed, strict=True):
        key_value, effect = text.rsplit(":", 1)
        assert (taint["key"], taint.get("value", ""), taint["effect"]) == (*(key_value.split("=", 1) + [""])[:2], effect)


@SETTINGS
@given(domain=DOMAINS, name=accepted("cluster_name").filter(lambda v: len(v) <= 253),
       gates=st.lists(accepted("kube_feature_gates", "items"), max_size=3))
def test_kubeadm_configuration_keeps_each_value_in_its_own_key(domain, name, gates):
    from tests.unit.roles.test_kubernetes_roles import init_vars

    variables = {**init_vars(RELEASE), "cluster_name": name, "dns_domain": domain, "kube_feature_gates": gates}
    init, cluster, kubelet, proxy = [d for d in yaml.safe_load_all(render(
        "control_plane/templates/kubeadm-config.yaml.j2", **variables)) if d]
    assert cluster["clusterName"] == name and cluster["networking"]["dnsDomain"] == kubelet["clusterDomain"] == domain
    if gates:
        assert len(kubelet["featureGates"]) == len({g.split("=")[0] for g in gates})


@SETTINGS
@given(member=accepted("etcd_member_name"), data_dir=accepted("etcd_data_dir").filter(lambda v: len(v) < 200),
       cluster=accepted("cluster_name").filter(lambda v: len(v) <= 253))
def test_etcds_environment_file_keeps_one_variable_per_line(member, data_dir, cluster):
    text = render("etcd/templates/etcd.env.j2", ansible_managed="test", etcd_name=member, etcd_data_dir=data_dir,
                  etcd_address="10.0.0.1", etcd_client_port=2379, etcd_peer_port=2380,
                  etcd_cluster_token=f"kinstall-{cluster}")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 15 and all("=" in line and " " not in line for line in lines)
    values = dict(line.split("=", 1) for line in lines)
    assert (values["ETCD_NAME"], values["ETCD_DATA_DIR"]) == (member, data_dir)


MIRRORS = ("containerd_registries_mirrors", "items", "properties")


@SETTINGS
@given(prefix=accepted(*MIRRORS, "prefix"),
       hosts=st.lists(accepted(*MIRRORS, "mirrors", "items", "properties", "host"), min_size=1, max_size=3, unique=True))
def test_a_registry_mirror_stays_one_toml_table_of_exactly_that_host(prefix, hosts):
    text = render("runtime/templates/hosts.toml.j2", ansible_managed="test",
                  item={"prefix": prefix, "mirrors": [{"host": h} for h in hosts]})
    parsed = tomllib.loads(text)
    assert parsed["server"] == "https://" + ("registry-1.docker.io" if prefix == "docker.io" else prefix)
    assert list(parsed["host"]) == hosts


@SETTINGS
@given(paths=st.lists(accepted("etcd_data_dir").filter(lambda v: len(v) < 200), min_size=1, max_size=4))
def test_paths_reset_removes_stay_one_word_each_of_its_shell_command(paths):
    words = template("{{ reset_paths | map('quote') | join(' ') }}", reset_paths=paths)
    assert shlex.split(words) == paths


@SETTINGS
@given(domain=DOMAINS)
def test_the_node_local_dns_corefile_has_exactly_one_zone_per_block(domain):
    from tests.unit.roles.test_addon_manifests import MINORS
    from tests.unit.roles.test_addon_manifests import variables as addon_variables

    _, values = addon_variables(MINORS[-1], dns_domain=domain)
    objects = {(o["kind"], o["metadata"]["name"]): o
               for o in yaml.safe_load_all(render("addons/templates/nodelocaldns.yaml.j2", **values)) if o}
    corefile = objects["ConfigMap", "nodelocaldns"]["data"]["Corefile"]
    zones = [line.split()[0] for line in corefile.splitlines() if line.endswith("{") and not line.startswith(" ")]
    assert zones == [f"{domain}:53", "in-addr.arpa:53", "ip6.arpa:53", ".:53"]


@pytest.mark.parametrize("name", ["node_labels", "node_taints", "cluster_name", "etcd_member_name", "etcd_data_dir",
                                  "kube_feature_gates", "containerd_registries_mirrors", "verify_external_name",
                                  "kube_image_repo", "files_repo", "drain_timeout", "local_release_dir"])
def test_no_value_reaching_a_host_takes_a_newline(name):
    """Every pattern of these settings is anchored at the very end for Python (see schema._anchored)."""
    checked = schema._checked()["$defs"]["vars"]["properties"][name]
    patterns = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(checked)
    assert patterns and all(p.endswith("\\Z") for p in patterns), patterns
