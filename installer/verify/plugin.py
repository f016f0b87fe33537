"""The network plugin checks `kinstall verify` asks through the Kubernetes API (those on each
host, Calico's BGP sessions and contrail-status, are roles/verify's): Romana's host and block
lists, from its daemon (the Service kube-system/romana, port 9600) through the API server's
service proxy, since the Service's address is reachable only from the cluster's nodes.

Romana's daemon serves GET /hosts ({"hosts": [{"name", "ip", ...}], "revision"}), GET /networks
([{"id", "cidr", "revision"}]) and GET /networks/NAME/blocks ({"blocks": [{"cidr", "host",
"tenant", "segment", "allocated_ip_count"}], "revision"})."""

from __future__ import annotations

import json

from installer.verify.api import TIMEOUT, error_text, unanswered
from installer.verify.results import FAIL, PASS, Result, Timer

ROMANA = "/api/v1/namespaces/kube-system/services/http:romana:9600/proxy"


def _get(api, path: str):
    response = api.call_api(*api.param_serialize("GET", ROMANA + path, auth_settings=["BearerToken"]),
                            _request_timeout=TIMEOUT)
    response.read()
    if not 200 <= response.status < 300:
        raise ValueError(f"GET {path}: HTTP {response.status}: {response.data.decode(errors='replace')[:200]}")
    return json.loads(response.data)


def romana(api, nodes: list[str]) -> Result:
    """Every node of the inventory in Romana's host list, and every address block Romana handed
    out held by one of those hosts."""
    timer = Timer()
    title = "Romana hosts and blocks"
    try:
        hosts = [h.get("name") or str(h.get("ip")) for h in _get(api, "/hosts").get("hosts") or []]
        networks = [n["id"] for n in _get(api, "/networks")]
        blocks = {name: _get(api, f"/networks/{name}/blocks").get("blocks") or [] for name in networks}
    except (*unanswered(), ValueError, KeyError, TypeError) as error:
        return Result("plugin", title, "cluster", FAIL, timer.seconds, error_text(error) if isinstance(
            error, unanswered()) else str(error), "Romana's daemon answers through the API server's service proxy",
            "kubectl -n kube-system get pods -l romana-app=daemon; the daemon's log")
    missing = [node for node in nodes if node not in hosts]
    strays = sorted({f"{b.get('cidr')} on {b.get('host')}" for found in blocks.values() for b in found
                     if b.get("host") not in hosts})
    listing = "; ".join(f"{name}: {len(found)} block(s)" for name, found in blocks.items())
    wrong = ([f"not in Romana's host list: {', '.join(missing)}"] if missing else []) + \
        ([f"blocks of hosts Romana does not list: {', '.join(strays)}"] if strays else []) + \
        ([] if networks else ["Romana has no network"])
    if wrong:
        return Result("plugin", title, "cluster", FAIL, timer.seconds, "; ".join(wrong),
                      "every node in Romana's host list, every block on a listed host",
                      f"hosts: {', '.join(hosts) or '(none)'}\nnetworks: {listing or '(none)'}")
    return Result("plugin", title, "cluster", PASS, timer.seconds,
                  f"{len(nodes)} node(s) among Romana's {len(hosts)} host(s); {listing}")


# The API checks a plugin's registry entry can name (NetworkPlugin.api_check).
CHECKS = {"romana": romana}


def run(api, check: str, nodes: list[str]) -> list[Result]:
    """The plugin's API check (its registry's api_check; none: "")."""
    return [CHECKS[check](api, nodes)] if check else []
