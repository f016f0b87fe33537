"""Kubespray's vocabulary: its inventories validate unchanged, its names keep their meaning and
default, features kinstall does not build are refused only when asked for, typos are still caught."""

import csv
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from installer.cli import cli
from installer.inventory import kubespray, schema
from installer.inventory.validate import validate
from tests.inventories import one_host

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "fixtures" / "kubespray"
REFERENCE = ROOT.parent / "shared" / "reference" / "kubespray-variables.tsv"
EXPECTED = yaml.safe_load((CORPUS / "expected.yml").read_text())


def _inventory(case: str) -> Path:
    folder = CORPUS / case
    return folder / ("inventory.ini" if case == "sample" else "ci_inventory.yml")


def test_kubesprays_sample_validates_with_exit_0_in_under_a_second():
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", str(_inventory("sample"))])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert "valid: cluster cluster.local" in result.output
    assert "unknown variable" not in result.output
    assert elapsed < 1.0, f"the sample took {elapsed:.2f} s"


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_corpus_case_is_accepted_or_refused_only_for_a_named_feature(case):
    result = validate(_inventory(case))
    errors = result.report.errors
    for error in errors:
        assert error.rule in ("not-offered", "schema") and " asks for " in error.message, error.text()
        assert "kinstall offers" in error.message, error.text()
    verdict = "valid" if not errors else {"refused": sorted({e.path.rsplit(".", 1)[-1] for e in errors})}
    assert verdict == EXPECTED[case]


def test_the_corpus_holds_the_sample_and_every_ci_scenario():
    scenarios = {f"ci/{p.name}" for p in (CORPUS / "ci").iterdir()}
    assert set(EXPECTED) == scenarios | {"sample"}
    assert len(scenarios) >= 60


@pytest.mark.parametrize("typo, meant", [
    ("kube_network_plugn", "kube_network_plugin"),
    ("kube_verison", "kube_version"),
    ("etcd_deployment_tpye", "etcd_deployment_type"),
])
def test_typos_of_known_names_are_errors_with_the_right_suggestion(tmp_path, typo, meant):
    (tmp_path / "hosts.yml").write_text(
        f"all:\n  vars:\n    {typo}: x\n  children:\n    kube_control_plane: {{hosts: {{n1: }}}}\n"
        "    etcd: {hosts: {n1: }}\n    kube_node: {hosts: {n1: }}\n")
    report = validate(tmp_path / "hosts.yml").report
    messages = [f.message for f in report.errors]
    assert f"unknown variable '{typo}'; did you mean '{meant}'?" in messages


def test_a_name_far_from_every_known_one_is_only_a_warning(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    my_team_backup_bucket: s3://x\n  children:\n    kube_control_plane: {hosts: {n1: }}\n"
        "    etcd: {hosts: {n1: }}\n    kube_node: {hosts: {n1: }}\n")
    report = validate(tmp_path / "hosts.yml").report
    assert report.ok
    assert [f.rule for f in report.warnings] == ["unknown-variable"]


@pytest.mark.parametrize("name", ["ntp_enabled", "ansible_password", "ansible_ssh_host", "ansible_become_pass",
                                  "bin_dir", "loadbalancer_apiserver_port"])
def test_kubesprays_own_names_get_no_suggestion(name):
    assert kubespray.status(name, set(schema.variables())) is not None
    assert kubespray.near(name, set(schema.variables()) | set(kubespray.names())) in (None, name)


@pytest.mark.parametrize("name, value, asks", [
    ("container_manager", "containerd", False), ("container_manager", "crio", True),
    ("etcd_deployment_type", "host", False), ("etcd_deployment_type", "kubeadm", True),
    ("helm_enabled", False, False), ("helm_enabled", "false", False), ("helm_enabled", True, True),
    ("kube_api_anonymous_auth", True, False), ("kube_api_anonymous_auth", False, True),
    ("cloud_provider", "", False), ("cloud_provider", "external", True),
    ("kube_network_plugin", "calico", False), ("kube_network_plugin", "cilium", True),
    ("metallb_speaker_enabled", "{{ metallb_enabled }}", False),
])
def test_a_not_offered_feature_is_refused_only_when_the_value_asks_for_it(name, value, asks):
    assert (kubespray.asked(name, value) is not None) == asks


def test_settings_of_a_plugin_that_is_not_selected_are_accepted_silently(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    cilium_l2announcements: true\n    kube_ovn_enable_ssl: true\n"
        "  children:\n    kube_control_plane: {hosts: {n1: }}\n    etcd: {hosts: {n1: }}\n    kube_node: {hosts: {n1: }}\n")
    report = validate(tmp_path / "hosts.yml").report
    assert report.ok and not report.warnings


def test_every_feature_switch_and_table_entry_is_one_of_kubesprays_names():
    for feature in kubespray.features():
        for name in feature.when:
            assert name in kubespray.names(), f"{name} ({feature.feature}) is not a Kubespray name"
    for name in list(kubespray.deliberate()) + list(kubespray.equivalent()):
        assert name in kubespray.names(), name
    for name in list(kubespray.deliberate()) + list(kubespray.equivalent()):
        assert name in schema.variables(), f"{name}: a deliberate default of a name kinstall does not implement"


def test_every_kubespray_name_gets_exactly_one_status():
    implemented = set(schema.variables())
    statuses = {kubespray.status(name, implemented) for name in kubespray.names()}
    assert statuses == {kubespray.IMPLEMENTED, kubespray.NOT_OFFERED, kubespray.INERT}


def _comparable(name: str):
    """Kubespray's checksum tables left its defaults after v2.26 (role variables since): only names
    still defaulted at master are compared."""
    known = kubespray.names()[name]
    return (known.has_default and not known.computed and known.release == "master"
            and name not in kubespray.deliberate() and name not in kubespray.equivalent())


def test_every_implemented_kubespray_name_has_kubesprays_default():
    """A name kinstall shares with Kubespray keeps Kubespray's default, unless the difference is
    deliberate (said by validate and the plan). Defaults Kubespray computes with Jinja, or only
    shows commented out, have nothing to compare with."""
    assert sum(1 for name in schema.variables() if name in kubespray.names() and _comparable(name)) >= 30
    mismatched = []
    for name, spec in schema.variables().items():
        if name not in kubespray.names() or not _comparable(name):
            continue
        ours, theirs = spec.get("default"), kubespray.names()[name].default
        if isinstance(ours, int) and isinstance(theirs, str) and theirs.isdigit():
            theirs = int(theirs)
        if ours != theirs:
            mismatched.append(f"{name}: kinstall {ours!r}, Kubespray {theirs!r}")
    assert mismatched == []


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference list (../shared/reference) is not beside this tree")
def test_the_package_data_matches_the_reference_list():
    with REFERENCE.open(newline="", encoding="utf-8") as handle:
        rows = {r["name"]: r for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)}
    assert set(rows) == set(kubespray.names())
    for name, known in kubespray.names().items():
        assert (known.kind, known.written) == (rows[name]["kind"], rows[name]["default"]), name


def test_the_plan_lists_where_the_cluster_differs_from_kubesprays(tmp_path):
    result = CliRunner().invoke(cli, ["plan", str(_inventory("sample"))])
    assert result.exit_code == 0, result.output
    listed = result.output.split("differs from what Kubespray builds from this inventory:")[1]
    # The sample sets local_release_dir, so kinstall uses Kubespray's value: nothing differs.
    assert listed.split("\n")[0].strip() == "nothing"
    other = CliRunner().invoke(cli, ["plan", str(one_host(tmp_path, "kube_apiserver_request_timeout: 120s\n"))])
    listed = other.output.split("differs from what Kubespray builds from this inventory:")[1].splitlines()
    assert [line.split(":")[0].split(" (")[0].strip() for line in listed[1:] if line.strip()] == [
        "kube_apiserver_request_timeout", "local_release_dir"]
    assert "local_release_dir: kinstall /var/cache/kinstall/releases, Kubespray /tmp/releases" in other.output
    # typha_secure's default differs only where Typha runs
    typha = CliRunner().invoke(cli, ["plan", str(one_host(tmp_path, "kube_network_plugin: calico\n"
                                                                    "typha_enabled: true\n"))])
    assert "typha_secure: kinstall true, Kubespray false: Typha answers only a Felix" in typha.output, typha.output


def _separate_etcd(tmp_path, k8s_vars: str, host_vars: str = "") -> Path:
    (tmp_path / "group_vars" / "k8s_cluster").mkdir(parents=True)
    (tmp_path / "group_vars" / "k8s_cluster" / "k8s.yml").write_text(k8s_vars)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    kube_control_plane: {hosts: {cp1: {ansible_host: 10.0.0.1}}}\n"
        f"    kube_node: {{hosts: {{w1: {{ansible_host: 10.0.0.2{host_vars}}}}}}}\n"
        "    etcd: {hosts: {e1: {ansible_host: 10.0.0.3}}}\n")
    return tmp_path / "hosts.yml"


def test_kubernetes_settings_in_group_vars_k8s_cluster_do_not_concern_etcd_only_hosts(tmp_path):
    report = validate(_separate_etcd(tmp_path, "kube_proxy_mode: iptables\n")).report
    assert report.ok, report.as_text()


def test_two_kubernetes_hosts_that_disagree_on_a_cluster_setting_are_still_refused(tmp_path):
    report = validate(_separate_etcd(tmp_path, "kube_proxy_mode: iptables\n", ", kube_proxy_mode: ipvs")).report
    assert [f.rule for f in report.errors] == ["cluster-setting"]
    assert "w1 would get" in report.errors[0].message


def test_ansibles_layouts_an_ini_file_named_inventory_repeated_keys_and_old_names(tmp_path):
    (tmp_path / "inventory").write_text(
        "node1 ansible_ssh_host=10.0.0.1 ip=10.0.0.9 ip=10.0.0.1\n\n[kube_control_plane]\nnode1\n[etcd]\nnode1\n"
        "[kube_node]\nnode1\n[calico-rr]\n[broken_etcd]\n")
    result = validate(tmp_path)
    assert result.report.ok, result.report.as_text()
    assert result.cluster.hosts["node1"].address == "10.0.0.1"
    assert result.cluster.hosts["node1"].ip == "10.0.0.1"  # the last one, as Ansible
    assert {f.rule for f in result.report.warnings} == {"duplicate-key", "legacy-group"}


def test_a_yaml_merge_key_is_overridden_by_the_keys_written_beside_it(tmp_path):
    (tmp_path / "hosts").write_text(
        "all:\n  hosts:\n    n1: &cp\n      ansible_host: 10.0.0.1\n      ip: 10.0.0.1\n"
        "    n2:\n      <<: *cp\n      ansible_host: 10.0.0.2\n      ip: 10.0.0.2\n"
        "  children:\n    kube_control_plane: {hosts: {n1: , n2: }}\n    etcd: {hosts: {n1: }}\n"
        "    kube_node: {hosts: {n2: }}\n")
    result = validate(tmp_path / "hosts")
    assert result.report.ok and not result.report.warnings, result.report.as_text()
    assert (result.cluster.hosts["n2"].address, result.cluster.hosts["n2"].ip) == ("10.0.0.2", "10.0.0.2")


@pytest.mark.parametrize("name, value", [
    ("etcd_data_dir", "/var/lib"), ("etcd_data_dir", "/usr"), ("local_release_dir", "/usr/local"),
    ("local_release_dir", "/"), ("etcd_data_dir", "/var/lib/../lib"), ("local_release_dir", "/var/cache/../../etc"),
])
def test_a_directory_reset_removes_may_not_be_or_hold_a_system_directory(tmp_path, name, value):
    report = validate(one_host(tmp_path, f"{name}: {value}\n")).report
    assert [f.rule for f in report.errors] in (["removable-path"], ["schema"]), report.as_text()
    assert name in report.errors[0].text()


@pytest.mark.parametrize("name, value", [("etcd_data_dir", "/data/etcd"), ("local_release_dir", "/tmp/releases")])
def test_a_directory_of_its_own_is_accepted(tmp_path, name, value):
    assert validate(one_host(tmp_path, f"{name}: {value}\n")).report.ok


@pytest.mark.parametrize("value", ["'/var/lib/etcd\\n'", "'/var/lib/etcd x'", "relative/etcd"])
def test_etcd_data_dir_is_one_plain_absolute_path(tmp_path, value):
    report = validate(one_host(tmp_path, f"etcd_data_dir: {value}\n")).report
    assert [f.rule for f in report.errors] == ["schema"], report.as_text()


def test_dns_domain_and_the_api_servers_address_default_as_kubesprays(tmp_path):
    cluster = validate(one_host(tmp_path, "cluster_name: corp.example\n")).cluster
    assert cluster.settings["dns_domain"] == "corp.example"
    assert cluster.settings["kube_apiserver_ip"] == "10.233.0.1"


def test_group_vars_reached_through_symlinked_directories_apply_as_in_ansible(tmp_path):
    shared = tmp_path / "shared"
    (shared / "k8s" / "deeper").mkdir(parents=True)
    (shared / "k8s" / "deeper" / "net.yml").write_text("kube_proxy_mode: iptables\n")
    (tmp_path / "inv" / "group_vars").mkdir(parents=True)
    (tmp_path / "inv" / "group_vars" / "k8s_cluster").symlink_to(shared / "k8s")
    (tmp_path / "inv" / "hosts.ini").write_text("[kube_control_plane]\nn1\n[etcd]\nn1\n[kube_node]\nn1\n")
    result = validate(tmp_path / "inv" / "hosts.ini")
    assert result.report.ok and result.cluster.settings["kube_proxy_mode"] == "iptables"


def test_an_executable_inventory_is_validated_from_ansible_inventorys_listing(tmp_path):
    script = tmp_path / "inventory.py"
    script.write_text(
        "#!/usr/bin/env python3\nimport json\nprint(json.dumps({'_meta': {'hostvars': {'n1': {'ansible_host': '10.0.0.1'},"
        " 'n2': {'kube_verison': '1.35.8'}}}, 'all': {'children': ['kube_control_plane', 'kube_node', 'etcd']},"
        " 'kube_control_plane': {'hosts': ['n1']}, 'etcd': {'hosts': ['n1']}, 'kube_node': {'hosts': ['n2']}}))\n")
    script.chmod(0o755)
    report = validate(script).report
    assert [f.text() for f in report.errors] == [
        f"{script} (as ansible-inventory lists it):1:1: $.all.children.kube_node.hosts.n2.kube_verison: unknown "
        "variable 'kube_verison'; did you mean 'kube_version'?"]
    script.write_text(script.read_text().replace("'kube_verison': '1.35.8'", "'ip': '10.0.0.2'"))
    result = validate(script)
    assert result.report.ok and sorted(result.cluster.hosts) == ["n1", "n2"]
    assert [f.rule for f in result.report.notes] == ["dynamic-inventory", "kubespray-defaults"]


def test_the_node_local_dns_address_may_not_lie_in_the_pod_or_service_network(tmp_path):
    report = validate(one_host(tmp_path, "nodelocaldns_ip: 10.233.0.53\n")).report
    assert [f.rule for f in report.errors] == ["network-overlap"]
    assert "nodelocaldns_ip 10.233.0.53 lies inside kube_service_addresses" in report.errors[0].message


def test_an_inventory_file_with_the_executable_bit_but_no_interpreter_line_is_read_not_run(tmp_path):
    (tmp_path / "hosts").write_text("[kube_control_plane]\nn1\n[etcd]\nn1\n[kube_node]\nn1\n")
    (tmp_path / "hosts").chmod(0o755)
    result = validate(tmp_path / "hosts")
    assert result.report.ok and "dynamic-inventory" not in {f.rule for f in result.report.findings}


def test_a_control_plane_setting_in_kube_control_plane_vars_concerns_only_control_planes(tmp_path):
    (tmp_path / "inventory.ini").write_text(
        "[kube_control_plane]\ncp1 ansible_host=10.0.0.1\n[etcd]\ncp1\n[kube_node]\nw1 ansible_host=10.0.0.2\n"
        "[kube_control_plane:vars]\nsupplementary_addresses_in_ssl_keys=['api.example.com', '10.0.0.100']\n")
    result = validate(tmp_path / "inventory.ini")
    assert result.report.ok, result.report.as_text()
    assert result.cluster.settings["supplementary_addresses_in_ssl_keys"] == ["api.example.com", "10.0.0.100"]
    (tmp_path / "inventory.ini").write_text(
        "[kube_control_plane]\ncp1 ansible_host=10.0.0.1\n[etcd]\ncp1\n[kube_node]\nw1 ansible_host=10.0.0.2\n"
        "[kube_control_plane:vars]\nkube_proxy_mode=iptables\n")
    report = validate(tmp_path / "inventory.ini").report
    assert [f.rule for f in report.errors] == ["cluster-setting"]  # kube-proxy runs on w1 too
