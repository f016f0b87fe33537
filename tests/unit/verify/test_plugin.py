"""Romana's host and block lists, asked of its daemon through the API server's service proxy,
against the recorded stand-in API server answering what Romana 2.0's daemon answers (its types:
api.HostList, api.IPAMNetworkResponse, api.IPAMBlocksResponse)."""

import copy

from installer import plugins
from installer.verify import api, plugin
from tests.standins.recorded_api import RecordedApi

PROXY = "/api/v1/namespaces/kube-system/services/http:romana:9600/proxy"


def _host(name, ip):
    return {"ip": ip, "name": name, "agent_port": 9604, "romana_ip": "", "tags": None, "k8s_info": None}


def _block(cidr, host, count):
    return {"revision": 1, "cidr": cidr, "tenant": "default", "segment": "", "host": host, "allocated_ip_count": count}


HEALTHY = {
    f"{PROXY}/hosts": {"hosts": [_host("node1", "10.0.0.1"), _host("node2", "10.0.0.2"), _host("node3", "10.0.0.3")],
                       "revision": 3},
    f"{PROXY}/networks": [{"revision": 3, "id": "romana-network", "cidr": "10.112.0.0/12"}],
    f"{PROXY}/networks/romana-network/blocks": {"revision": 5, "blocks": [
        _block("10.112.0.0/29", "node1", 2), _block("10.113.0.0/29", "node2", 1)]},
}


def _check(tmp_path, responses, nodes=("node1", "node2", "node3")):
    with RecordedApi(responses) as server:
        return plugin.run(api.connect(server.kubeconfig(tmp_path / "kubeconfig")), plugins.get("romana").api_check,
                          list(nodes)), server.requests


def test_every_node_listed_and_every_block_on_a_listed_host_passes(tmp_path):
    [result], requests = _check(tmp_path, HEALTHY)
    assert (result.group, result.status) == ("plugin", "pass")
    assert result.seen == "3 node(s) among Romana's 3 host(s); romana-network: 2 block(s)"
    assert [path for _, path in requests] == [f"{PROXY}/hosts", f"{PROXY}/networks",
                                              f"{PROXY}/networks/romana-network/blocks"]


def test_a_node_romana_does_not_list_and_a_block_of_a_gone_host_fail_by_name(tmp_path):
    broken = copy.deepcopy(HEALTHY)
    broken[f"{PROXY}/hosts"]["hosts"].pop(2)
    broken[f"{PROXY}/networks/romana-network/blocks"]["blocks"].append(_block("10.114.0.0/29", "node9", 1))
    [result], _ = _check(tmp_path, broken)
    assert result.status == "fail"
    assert result.seen == ("not in Romana's host list: node3; "
                           "blocks of hosts Romana does not list: 10.114.0.0/29 on node9")
    assert "hosts: node1, node2" in result.diagnostics


def test_a_daemon_that_does_not_answer_fails_saying_where_to_look(tmp_path):
    [result], _ = _check(tmp_path, {})
    assert result.status == "fail"
    assert result.expected == "Romana's daemon answers through the API server's service proxy"
    assert result.seen.startswith("GET /hosts: HTTP 404")


def test_other_plugins_have_no_check_through_the_api(tmp_path):
    assert plugin.run(None, plugins.get("calico").api_check, ["node1"]) == []
    assert plugin.run(None, plugins.get("bridge").api_check, ["node1"]) == []
    # every check a registry entry names exists
    assert {p.api_check for p in plugins.REGISTRY.values()} - {""} <= set(plugin.CHECKS)
