"""Preflight checks each network plugin's ports on the hosts that run them: the expression of
roles/preflight, rendered by Ansible's templating with each plugin's facts as kinstall passes
them."""

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from installer import plugins
from installer.runner.engine import plugin_facts
from tests.paths import ROLES

PORTS = yaml.safe_load((ROLES / "preflight" / "vars" / "main.yml").read_text())["preflight_plugin_ports"]


def ports_checked(plugin, roles, group_names):
    templar = Templar(loader=DataLoader(), variables={
        "kinstall_network_plugin": plugin_facts(plugin), "preflight_roles": roles, "group_names": group_names})
    return {(p["protocol"], p["port"]) for p in templar.template(trust_as_template(PORTS))}


@pytest.mark.parametrize("name", [n for n in plugins.names() if plugins.get(n).ports])
def test_every_tcp_and_udp_port_of_the_plugin_is_checked_on_the_hosts_that_run_it(name):
    plugin = plugins.get(name)
    everywhere = {(p.protocol, p.port) for p in plugin.ports if p.hosts == "all" and p.protocol != "ip"}
    control = {(p.protocol, p.port) for p in plugin.ports if p.hosts == "control_plane"}
    controllers = {(p.protocol, p.port) for p in plugin.ports if p.hosts in plugin.groups}
    assert ports_checked(plugin, ["node"], ["kube_node"]) == everywhere
    assert ports_checked(plugin, ["control plane", "node"], ["kube_control_plane"]) == everywhere | control
    assert ports_checked(plugin, ["node"], ["kube_node", "contrail_controller"]) == everywhere | controllers
    assert everywhere | control | controllers  # each plugin listed here has a port preflight checks

