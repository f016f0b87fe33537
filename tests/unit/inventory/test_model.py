from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from installer.inventory import model
from installer.inventory.validate import validate

BASE = """\
all:
  hosts:
    n1: {ip: 192.0.2.1}
    n2: {ip: 192.0.2.2, kube_version: 1.34.1}
  vars: {kube_version: 1.36.0}
  children:
    kube_control_plane: {hosts: {n1: }}
    kube_node: {hosts: {n2: }, vars: {kube_version: 1.36.1}}
    etcd: {hosts: {n1: }}
"""


def test_expand_hosts():
    assert model.expand_hosts("node[01:03]") == ["node01", "node02", "node03"]
    assert model.expand_hosts("n[a:c]") == ["na", "nb", "nc"]
    assert model.expand_hosts("n[1:5:2]x") == ["n1x", "n3x", "n5x"]
    assert model.expand_hosts("plain") == ["plain"]


def test_precedence_follows_ansible(write):
    root = write({"hosts.yaml": BASE,
                  "group_vars/all.yml": "kube_version: 1.36.2\n",
                  "group_vars/kube_node.yml": "kube_version: 1.36.3\n",
                  "host_vars/n2.yml": "kube_version: 1.36.4\n"})
    inv = model.load(root / "hosts.yaml")
    # n1: inline all < group_vars/all; no group sets it for kube_control_plane.
    assert inv.value("n1", "kube_version") == "1.36.2"
    # n2: ... < kube_node inline < group_vars/kube_node < host inline < host_vars.
    assert inv.value("n2", "kube_version") == "1.36.4"
    (root / "host_vars/n2.yml").unlink()
    assert model.load(root / "hosts.yaml").value("n2", "kube_version") == "1.34.1"


def test_group_inline_vars_lose_to_any_group_vars_file(write):
    root = write({"hosts.yaml": BASE.replace("    n2: {ip: 192.0.2.2, kube_version: 1.34.1}", "    n2: {ip: 192.0.2.2}"),
                  "group_vars/all.yml": "kube_version: 1.36.2\n"})
    inv = model.load(root / "hosts.yaml")
    assert inv.value("n2", "kube_version") == "1.36.1"  # kube_node inline beats group_vars/all


def test_k8s_cluster_is_computed_so_its_group_vars_apply(write):
    root = write({"hosts.yaml": BASE, "group_vars/k8s_cluster.yml": "cluster_name: lab.local\n"})
    inv = model.load(root / "hosts.yaml")
    assert inv.members("k8s_cluster") == {"n1", "n2"}
    assert inv.value("n1", "cluster_name") == "lab.local"
    assert not [f for f in inv.findings if f.rule == "orphan-vars"]


def test_directory_argument_finds_hosts_yaml(write):
    root = write({"hosts.yaml": BASE})
    assert model.find_inventory_file(root) == root / "hosts.yaml"


def test_cluster_model_orders_group_members_as_ansible_does(write):
    text = BASE.replace("kube_control_plane: {hosts: {n1: }}", "kube_control_plane: {hosts: {n2: , n1: }}")
    text = text.replace("kube_version: 1.34.1", "access_ip: 192.0.2.2").replace("{kube_version: 1.36.1}", "{}")
    text = text.replace("etcd: {hosts: {n1: }}", "etcd: {hosts: {n1: , n2: , n3: }}").replace(
        "    n2: {ip: 192.0.2.2", "    n3: {ip: 192.0.2.3}\n    n2: {ip: 192.0.2.2")
    result = validate(write({"hosts.yaml": text}) / "hosts.yaml")
    assert result.report.ok, result.report.as_text()
    cluster = result.cluster
    # The group lists n2 first: the roles' `groups['kube_control_plane'] | first` is n2, whatever
    # order the hosts are written in, and so is kinstall's first control plane.
    assert cluster.first_control_plane == "n2"
    assert cluster.groups["k8s_cluster"] == ["n2", "n1"]
    assert cluster.groups["etcd"] == ["n1", "n2", "n3"]
    ansible = InventoryManager(loader=DataLoader(), sources=[cluster.inventory_file])
    assert cluster.groups["kube_control_plane"] == [h.name for h in ansible.groups["kube_control_plane"].get_hosts()]
    assert cluster.groups["etcd"] == [h.name for h in ansible.groups["etcd"].get_hosts()]
    assert cluster.hosts["n3"].roles == ("etcd",)
    assert cluster.hosts["n2"].roles == ("control-plane", "node", "etcd")
    assert cluster.components["etcd"] == cluster.release.components["etcd"]


def test_component_override_reaches_the_cluster(write):
    result = validate(write({"hosts.yaml": BASE.replace("kube_version: 1.34.1", "access_ip: 192.0.2.2").replace(
        "{kube_version: 1.36.0}", "{kube_version: 1.36.0, etcd_version: v3.6.13}").replace(
        "{kube_version: 1.36.1}", "{}")}) / "hosts.yaml")
    assert result.report.ok, result.report.as_text()
    assert result.cluster.components["etcd"] == "3.6.13"


def test_a_host_variable_of_the_wrong_type_is_reported_once_not_crashed_on(write):
    """Found by hypothesis: a list as ansible_host reached the uniqueness rule."""
    text = BASE.replace("n1: {ip: 192.0.2.1}", "n1: {ip: 192.0.2.1, ansible_host: []}")
    report = validate(write({"hosts.yaml": text}) / "hosts.yaml").report
    assert [f.message for f in report.errors if "ansible_host" in f.path] == [
        "expected a string, got a list"]


def test_ansible_overlay_declares_kinstalls_groups(write):
    text = BASE.replace("kube_control_plane:", "kube-master:").replace("kube_version: 1.34.1", "access_ip: 192.0.2.2")
    inv = model.load(write({"hosts.yaml": text}) / "hosts.yaml")
    assert inv.ansible_overlay() == {"all": {"children": {
        "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None, "calico_rr": None}},
        "kube_control_plane": {"children": {"kube-master": None}}}}}


def test_no_overlay_when_the_inventory_already_says_it_all(write):
    text = BASE + "    k8s_cluster:\n      children: {kube_control_plane: , kube_node: }\n"
    assert model.load(write({"hosts.yaml": text}) / "hosts.yaml").ansible_overlay() == {}
