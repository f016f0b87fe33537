from installer.plugins.base import NetworkPlugin

PLUGIN = NetworkPlugin(
    name="bridge",
    title="bridge (CNI reference plugins)",
    version="1.1.1",
    maintained=True,
    # Nothing but the CNI reference plugins (bridge, host-local, portmap, loopback) and routes:
    # it runs wherever kubelet runs, from the lab's 1.20 to the current releases.
    kube_minors=((1, 20), (1, 36)),
    data_path="a Linux bridge on each node with its pod CIDR (host-local), routes between nodes: "
              "no encapsulation, so every node must share one L2 segment",
    network_policy="none: the reference plugins enforce no NetworkPolicy",
    tenant_isolation=None,
    ports=(),
    host_settings={
        "sysctls": {"net.ipv4.ip_forward": 1},
        "kernel_modules": ["br_netfilter"],
    },
    settings={
        "bridge_cni_name": {
            "description": "The Linux bridge pods attach to on each node.",
            "type": "string", "pattern": "^[a-zA-Z0-9_.-]{1,15}$", "default": "cni0",
        },
        "bridge_cni_routes": {
            "description": "Add a route to every other node's pod CIDR on each node (off: routes are the network's job).",
            "type": "boolean", "default": True,
        },
    },
    notes="For labs and flat networks: pods reach each other through routes between nodes on one L2 segment; "
          "no NetworkPolicy, so no tenant isolation.",
)
