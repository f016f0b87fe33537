from installer.plugins.base import Image, NetworkPlugin, Port

OWNERS = ("romana", "etcd")

def _route_publisher(ctx):
    if ctx.value("romana_route_publisher") and not ctx.value("romana_publisher_neighbors"):
        yield ctx.at("romana_route_publisher", "romana_route_publisher is true but romana_publisher_neighbors is "
                     "empty, so the publisher would announce the nodes' blocks to no router: list the routers' "
                     "addresses", rule="romana-publisher")


PLUGIN = NetworkPlugin(
    name="romana",
    title="Romana",
    version="2.0.2",
    maintained=False,
    # Its manifests use extensions/v1beta1 workloads, which Kubernetes stopped serving in 1.16.
    kube_minors=((1, 15), (1, 15)),
    data_path="pure routed L3, no encapsulation (hosts on one L2 segment, or its route publisher)",
    network_policy="extensions/v1beta1 NetworkPolicy, ingress only",
    # A v1 default-deny alone does not isolate with Romana: it needs the DefaultDeny annotation.
    tenant_isolation="romana-annotation",
    ports=(
        Port("tcp", 9600, "control_plane", "romana-daemon", OWNERS),
        Port("tcp", 12379, "control_plane", "romana-etcd clients", OWNERS),
        Port("tcp", 12380, "control_plane", "romana-etcd peers", OWNERS),
        Port("tcp", 9602, "control_plane", "romana-listener", OWNERS),
        Port("tcp", 9607, "all", "romana-agent metrics", OWNERS),
        # Each Romana pod's TLS proxy to etcd, on the node's loopback (nginx).
        Port("tcp", 12381, "all", "romana-agent's etcd TLS proxy (loopback)", OWNERS + ("nginx",)),
        Port("tcp", 12382, "control_plane", "romana-daemon's etcd TLS proxy (loopback)", OWNERS + ("nginx",)),
        Port("tcp", 12383, "control_plane", "romana-listener's etcd TLS proxy (loopback)", OWNERS + ("nginx",)),
        Port("tcp", 12384, "all", "the route publisher's etcd TLS proxy (loopback; romana_route_publisher)",
             OWNERS + ("nginx",)),
    ),
    host_settings={
        "sysctls": {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.proxy_arp": 1},
        "kernel_modules": ["ip_set", "ip_tables"],
    },
    settings={
        "romana_route_publisher": {
            "description": "Run Romana's BIRD route publisher (needed when hosts share no L2 segment).",
            "type": "boolean", "default": False,
        },
        "romana_publisher_asn": {
            "description": "AS number of the route publisher.",
            "type": "integer", "minimum": 1, "maximum": 4294967295, "default": 65534,
        },
        "romana_publisher_neighbors": {
            "description": "The routers the route publisher announces each node's blocks to (BGP neighbours).",
            "type": "array", "items": {"type": "string", "format": "ipv4"}, "default": [],
        },
        "romana_block_mask": {
            "description": "Prefix length of the address blocks Romana hands to each host.",
            "type": "integer", "minimum": 24, "maximum": 30, "default": 29,
        },
    },
    images=(
        Image("romana-etcd", "kube_image_repo", "etcd-amd64", "3.0.17", "kube_control_plane"),
        Image("romana-daemon", "quay_image_repo", "romana/daemon", "v2.0.2", "kube_control_plane"),
        Image("romana-listener", "quay_image_repo", "romana/listener", "v2.0.2", "kube_control_plane"),
        Image("romana-agent", "quay_image_repo", "romana/agent", "v2.0.2"),
        # Romana 2.0's clients speak no TLS: each of its pods reaches etcd through this proxy.
        Image("romana-etcd-proxy", "docker_image_repo", "library/nginx", "1.30.1-alpine"),
        Image("romana-bird", "quay_image_repo", "romana/x-bird", "v2.0.2", enabled_by="romana_route_publisher"),
        Image("romana-route-publisher", "quay_image_repo", "romana/x-route-publisher", "v2.0.2",
              enabled_by="romana_route_publisher"),
    ),
    alternative="calico with calico_network_backend: bird and calico_ipip_mode/calico_vxlan_mode: Never "
    "(the maintained form of Romana's routed L3 model)",
    notes="Unmaintained since 2018 (last release v2.0.2). Pinned, offered only on Kubernetes 1.15.",
    rules=(_route_publisher,),
    api_check="romana",
    reset_chains=("ROMANA",),
)
