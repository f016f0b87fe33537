from installer.plugins.base import Image, NetworkPlugin, Port

# Tungsten Fabric's images on Docker Hub, tagged by release. The tag could not be checked against
# the registry where kinstall is developed (no registry access): verify it before an install.
TAG = "R21.12"
CONTROLLER_IMAGES = ("controller-config-api", "controller-config-schema", "controller-config-svcmonitor",
                     "controller-control-control", "controller-webui-web", "controller-webui-job",
                     "analytics-api", "analytics-collector", "kubernetes-kube-manager", "external-zookeeper",
                     "external-cassandra", "external-rabbitmq", "external-redis")
AGENT_IMAGES = ("node-init", "nodemgr", "vrouter-kernel-init", "kubernetes-cni-init", "vrouter-agent")

OWNERS = ("contrail", "java", "beam.smp", "redis", "python3", "vrouter")

def _controllers(ctx):
    if not ctx.members("contrail_controller"):
        yield ctx.at("kube_network_plugin", "opencontrail needs controller hosts: put them in the "
                     "contrail_controller group (it asks for 32 GB of memory on each)", rule="plugin-groups")


PLUGIN = NetworkPlugin(
    name="opencontrail",
    title="OpenContrail (Tungsten Fabric)",
    version="R21.12",
    maintained=False,
    # R21.12, the last documented release, was tested with Kubernetes 1.21.4.
    kube_minors=((1, 21), (1, 21)),
    data_path="overlay (vRouter; MPLSoUDP, MPLSoGRE or VXLAN)",
    network_policy="Kubernetes NetworkPolicy v1, translated into Tungsten Fabric firewall policy",
    tenant_isolation="networkpolicy-v1",
    ports=(
        Port("tcp", 8082, "contrail_controller", "config API", OWNERS),
        Port("tcp", 5269, "contrail_controller", "XMPP to vRouter agents", OWNERS),
        Port("tcp", 179, "contrail_controller", "BGP", OWNERS),
        Port("tcp", 8081, "contrail_controller", "analytics API", OWNERS),
        Port("tcp", 8086, "contrail_controller", "collector", OWNERS),
        Port("tcp", 8143, "contrail_controller", "web UI", OWNERS),
        Port("tcp", 2181, "contrail_controller", "ZooKeeper", OWNERS),
        Port("tcp", 9042, "contrail_controller", "Cassandra", OWNERS),
        Port("tcp", 5673, "contrail_controller", "RabbitMQ", OWNERS),
        Port("udp", 6635, "all", "MPLSoUDP data plane", OWNERS),
        Port("udp", 4789, "all", "VXLAN data plane", OWNERS),
        Port("ip", 47, "all", "MPLSoGRE data plane", OWNERS),
        Port("tcp", 8085, "all", "vRouter agent introspect", OWNERS),
    ),
    host_settings={
        "sysctls": {"vm.max_map_count": 128960},
        "kernel_modules": ["vrouter"],
        "max_kernel": "5.15",
        # vm.nr_hugepages comes from this setting; preflight counts the pages against memory.
        "hugepages_2mb_setting": "contrail_hugepages_2mb",
        "min_memory_mb": {"contrail_controller": 32768},
    },
    settings={
        "contrail_physical_interface": {
            "description": "The host interface the vRouter takes over (vhost0 gets its address).",
            "type": "string", "minLength": 1,
        },
        "contrail_encap_priority": {
            "description": "Encapsulation order, most preferred first.",
            "type": "string", "pattern": "^(MPLSoUDP|MPLSoGRE|VXLAN)(,(MPLSoUDP|MPLSoGRE|VXLAN))*$",
            "x-kinstall-form": "a comma-separated list of MPLSoUDP, MPLSoGRE and VXLAN",
            "default": "MPLSoUDP,MPLSoGRE,VXLAN",
        },
        "contrail_hugepages_2mb": {
            "description": "2 MB hugepages reserved for the vRouter on every node.",
            "type": "integer", "minimum": 0, "default": 1024,
        },
    },
    groups=("contrail_controller",),
    images=tuple(Image(f"contrail-{name}", "docker_image_repo", f"tungstenfabric/contrail-{name}", TAG,
                       "contrail_controller") for name in CONTROLLER_IMAGES)
    + tuple(Image(f"contrail-{name}", "docker_image_repo", f"tungstenfabric/contrail-{name}", TAG)
            for name in AGENT_IMAGES),
    alternative="calico with VXLAN encapsulation, or OpenSDN / OVN-Kubernetes / Kube-OVN for a vRouter-style overlay",
    notes="Unmaintained (continued as OpenSDN). Pinned, offered only on Kubernetes 1.21 and kernels <= 5.15.",
    rules=(_controllers,),
    host_check="contrail",
    host_check_title="contrail-status",
    reset_chains=("contrail",),
)
