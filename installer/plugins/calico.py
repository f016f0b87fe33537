from installer.plugins.base import Image, NetworkPlugin, Port

OWNERS = ("bird", "calico-node", "calico-typha")

_MODES = ["Always", "CrossSubnet", "Never"]

def _encapsulation(ctx):
    """One encapsulation an IP pool, IPIP only over BGP, VXLAN with the vxlan backend."""
    backend, ipip, vxlan = (ctx.value(k) for k in ("calico_network_backend", "calico_ipip_mode", "calico_vxlan_mode"))
    if None in (backend, ipip, vxlan):
        return
    if ipip != "Never" and vxlan != "Never":
        yield ctx.at("calico_ipip_mode", f"calico_ipip_mode is {ipip} and calico_vxlan_mode is {vxlan}; an IP pool "
                     "uses one encapsulation: set the other to Never", rule="calico-mode")
    if ipip != "Never" and backend != "bird":
        yield ctx.at("calico_ipip_mode", f"calico_ipip_mode {ipip} needs calico_network_backend: bird (IPIP routes "
                     f"are learnt over BGP), not {backend}", rule="calico-mode")
    if backend == "bird" and ipip == "Never" and vxlan != "Never":
        yield ctx.at("calico_vxlan_mode", "calico_network_backend bird with VXLAN encapsulation: use "
                     "calico_network_backend: vxlan for VXLAN, or set calico_vxlan_mode: Never for pure BGP routing",
                     severity="warning", rule="calico-mode")


def _no_bgp(settings: dict) -> str:
    backend = settings.get("calico_network_backend", "vxlan")
    return "" if backend == "bird" else f"Calico's {backend} backend runs no BGP (calico_network_backend)"


PLUGIN = NetworkPlugin(
    name="calico",
    title="Calico",
    version="3.32.1",
    maintained=True,
    kube_minors=((1, 34), (1, 36)),
    data_path="routed L3 (BGP, no encapsulation) or IPIP/VXLAN overlay per IP pool",
    network_policy="Kubernetes NetworkPolicy v1 (ingress and egress), plus Calico's own policies",
    tenant_isolation="networkpolicy-v1",
    ports=(
        Port("tcp", 179, "all", "BGP between nodes and route reflectors", OWNERS),
        Port("ip", 4, "all", "IPIP encapsulation", OWNERS),
        Port("udp", 4789, "all", "VXLAN encapsulation", OWNERS),
        Port("tcp", 5473, "all", "Typha", OWNERS),
        Port("tcp", 9099, "all", "Felix health (localhost)", OWNERS),
        Port("tcp", 9091, "all", "Felix metrics", OWNERS),
        Port("udp", 51820, "all", "WireGuard (IPv4), when enabled", OWNERS),
    ),
    host_settings={
        "sysctls": {"net.ipv4.ip_forward": 1},
        "kernel_modules": [
            "ip_set", "ip_tables", "ip6_tables", "xt_set", "xt_mark", "xt_multiport",
            "xt_conntrack", "xt_addrtype", "xt_u32", "xt_rpfilter", "nf_conntrack_netlink",
        ],
        "min_kernel": "5.10",
        "network_manager_unmanaged": ["cali*", "tunl*", "vxlan.calico"],
    },
    settings={
        "calico_network_backend": {
            "description": "Calico's data path: bird (BGP routing), vxlan (VXLAN, no BGP) or none (policy only).",
            "enum": ["bird", "vxlan", "none"], "default": "vxlan",
        },
        "calico_ipip_mode": {
            "description": "IPIP encapsulation of the default IP pool.",
            "enum": _MODES, "default": "Never",
        },
        "calico_vxlan_mode": {
            "description": "VXLAN encapsulation of the default IP pool.",
            "enum": _MODES, "default": "Always",
        },
        "calico_pool_blocksize": {
            "description": "Prefix length of the per-node IPAM blocks cut from the pool.",
            "type": "integer", "minimum": 20, "maximum": 32, "default": 26,
        },
        "calico_veth_mtu": {
            "description": "MTU of pod interfaces; 0 lets Calico detect it.",
            "type": "integer", "minimum": 0, "maximum": 9000, "default": 0,
        },
        "global_as_num": {
            "description": "The cluster's BGP AS number.",
            "type": ["integer", "string"], "pattern": "^[0-9]+$", "x-kinstall-form": "a number", "default": 64512,
        },
        "nat_outgoing": {
            "description": "Masquerade traffic from pods to destinations outside the pool.",
            "type": "boolean", "default": True,
        },
        "peer_with_router": {
            "description": "Peer each node with the routers listed in its `peers` variable.",
            "type": "boolean", "default": False,
        },
        "typha_enabled": {
            "description": "Run Typha between the API server and Felix (recommended above 50 nodes).",
            "type": "boolean", "default": False,
        },
        "typha_replicas": {
            "description": "Typha replicas when Typha is enabled.",
            "type": "integer", "minimum": 1, "default": 1,
        },
        "typha_secure": {
            "description": "Typha and Felix authenticate each other over TLS on port 5473, with certificates "
                         "of a CA of their own that kinstall keeps with the cluster's state. Kubespray's "
                         "default is false (Typha then serves the cluster's network state in plaintext to "
                         "whoever reaches the port); kinstall's is true.",
            "type": "boolean", "default": True,
        },
    },
    groups=("calico_rr",),
    images=(
        Image("calico-node", "quay_image_repo", "calico/node", "v3.32.1"),
        Image("calico-cni", "quay_image_repo", "calico/cni", "v3.32.1"),
        Image("calico-kube-controllers", "quay_image_repo", "calico/kube-controllers", "v3.32.1"),
        Image("calico-typha", "quay_image_repo", "calico/typha", "v3.32.1", enabled_by="typha_enabled"),
    ),
    rules=(_encapsulation,),
    host_check="calico-bgp",
    host_check_title="Calico BGP sessions",
    host_check_off=_no_bgp,
    reset_links=("tunl0", "vxlan.calico"),
    reset_chains=("cali-", "cali:"),
)
