"""Preflight's checks (roles/preflight/vars/main.yml), rendered by Ansible's templating as the
role's last task reads them: a sound host has no problem; a host with everything wrong gets one
message per check, each naming what to fix. They are variables, not tasks, so a template error
would only show on a host: these renderings are where it shows first."""

import time

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from installer import plugins
from installer.runner.engine import plugin_facts
from tests.paths import ROLES


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def _role_vars():
    found = {}
    for part in ("defaults", "vars"):
        found.update(yaml.safe_load((ROLES / "preflight" / part / "main.yml").read_text()))
    return _trusted(found)


def _host(**changes):
    host = {"listening": [{"proto": "tcp", "port": 22, "address": "0.0.0.0", "process": "sshd"},
                          {"proto": "tcp", "port": 2379, "address": "10.0.0.1", "process": "etcd"}],
            "memory_limit_mb": None, "modules": {"overlay": "loaded", "br_netfilter": "builtin"},
            "container": "", "epoch": int(time.time()), "active_services": [], "docker_socket": False,
            "resolved": "10.0.0.1"}
    return {**host, **changes}


def _facts(**changes):
    facts = {"distribution": "Debian", "distribution_major_version": "12", "service_mgr": "systemd",
             "memtotal_mb": 4096, "processor_vcpus": 2, "all_ipv4_addresses": ["10.0.0.1"], "swaptotal_mb": 0,
             "kernel": "6.1.0-18-amd64"}
    return {**facts, **changes}


def _render(expression, host, facts, calendars=(), refusal="", plugin="calico", groups=("kube_control_plane",
                                                                                          "k8s_cluster", "etcd")):
    variables = {**_role_vars(), "preflight_host_facts": {"kinstall_host": host}, "ansible_facts": facts,
                 "group_names": list(groups), "inventory_hostname": "node1", "ip": "10.0.0.1",
                 "kinstall_network_plugin": plugin_facts(plugins.get(plugin)), "kube_apiserver_port": 6443,
                 "kube_version": "1.20.2", "kubelet_fail_swap_on": True, "os_swap_off": False,
                 "preflight_calendars": {"results": list(calendars)}}
    if refusal:
        variables["upgrade_refusal"] = refusal
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_a_sound_host_has_no_problem_and_no_warning():
    assert _render("{{ preflight_problems }}", _host(), _facts()) == []
    assert _render("{{ preflight_warnings }}", _host(), _facts()) == []


def test_a_host_with_everything_wrong_gets_one_message_per_check():
    host = _host(listening=[{"proto": "tcp", "port": 6443, "address": "0.0.0.0", "process": "nginx"}],
                 memory_limit_mb=512, modules={"overlay": "missing", "br_netfilter": "unknown"},
                 epoch=int(time.time()) - 600, active_services=["docker"], resolved="10.9.9.9")
    facts = _facts(distribution="CentOS", distribution_major_version="7", service_mgr="upstart", processor_vcpus=1,
                   all_ipv4_addresses=["10.0.0.2"], swaptotal_mb=1024, kernel="3.10.0")
    calendar = {"rc": 1, "stderr": "Failed to parse calendar specification 'nope'",
                "item": {"name": "etcd_backup_schedule", "value": "nope", "example": "daily"}}
    problems = _render("{{ preflight_problems }}", host, facts, calendars=[calendar, {"rc": 0, "item": {}}],
                       refusal="it runs 1.22.0, a downgrade")
    expected = [
        "runs CentOS 7; kinstall supports Debian 12, Debian 13, Ubuntu 22, Ubuntu 24",
        "its service manager is upstart, not systemd",
        "etcd_backup_schedule 'nope' is not a calendar systemd reads (Failed to parse calendar specification "
        "'nope'); write one such as daily",
        "has 1 CPU(s); a control plane + node + etcd member needs 2",
        "has 512 MB of memory; a control plane + node + etcd member needs 1700 MB",
        "ip 10.0.0.1 is not one of its addresses (10.0.0.2); fix `ip` in the inventory",
        "its name node1 resolves to 10.9.9.9, which is not one of its addresses (10.0.0.2); fix DNS or /etc/hosts",
        "tcp 6443 (API server) is in use by nginx on 0.0.0.0",
        "swap is on (1024 MB) and nothing turns it off: set os_swap_off: true, or kubelet_fail_swap_on: false to "
        "run with swap",
        "kernel module overlay is missing",
        "runs kernel 3.10.0; calico needs >= " + plugin_facts(plugins.get("calico"))["min_kernel"],
        "another container runtime is active (docker); stop and disable it, kinstall installs containerd",
        "cannot move to Kubernetes 1.20.2: it runs 1.22.0, a downgrade",
    ]
    clock = [p for p in problems if p.startswith("its clock is")]
    assert [p for p in problems if not p.startswith("its clock is")] == expected
    assert len(clock) == 1 and "s off the controller's (at most 60 s); synchronise it (NTP)" in clock[0]
    assert _render("{{ preflight_warnings }}", host, facts) == [
        "cannot check kernel modules br_netfilter (no /lib/modules for this kernel, so modprobe cannot run here): "
        "assuming they are built in"]


def test_a_kernel_outside_the_plugins_range_is_named_with_the_range():
    plugin = next(name for name in plugins.names() if plugin_facts(plugins.get(name))["min_kernel"])
    low = plugin_facts(plugins.get(plugin))["min_kernel"]
    problems = _render("{{ preflight_problems }}", _host(), _facts(kernel="2.6.32"), plugin=plugin)
    assert [p for p in problems if p.startswith("runs kernel")] == [f"runs kernel 2.6.32; {plugin} needs >= {low}"]


def test_the_version_check_is_only_for_nodes():
    problems = _render("{{ preflight_problems }}", _host(), _facts(), refusal="a downgrade", groups=("etcd",))
    assert not [p for p in problems if p.startswith("cannot move")]
