"""What a network plugin declares. Each plugin module holds one NetworkPlugin with its facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    protocol: str  # tcp | udp | ip (an IP protocol number, e.g. 4 for IPIP)
    port: int | str
    hosts: str  # which hosts listen/accept: "all", "control_plane", or one of the plugin's groups
    purpose: str
    owners: tuple[str, ...] = ()  # process names (prefixes) that may hold it: the plugin's own

    def label(self) -> str:
        if self.protocol == "ip":
            return f"IP proto {self.port}"
        return f"{self.protocol.upper()} {self.port}"


@dataclass(frozen=True)
class Image:
    """A container image kinstall pins: its registry is named by Kubespray's variable for it
    (kube_image_repo, quay_image_repo, docker_image_repo), so pointing that variable at a mirror
    rewrites every image from that registry."""
    name: str  # what kinstall calls it, e.g. calico-node
    repo: str  # the setting naming its registry
    path: str  # the repository path under that registry, e.g. calico/node
    tag: str
    hosts: str = "k8s_cluster"  # the group whose hosts run it
    enabled_by: str = ""  # a setting that must be set (true, non-empty) for the image to be used

    def reference(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.path}:{self.tag}"


@dataclass(frozen=True)
class NetworkPlugin:
    name: str
    title: str
    version: str  # the release kinstall pins
    maintained: bool
    # Kubernetes minors it runs on, inclusive, as (major, minor) tuples.
    kube_minors: tuple[tuple[int, int], tuple[int, int]]
    data_path: str  # "routed L3", "overlay", ...
    network_policy: str  # what it enforces, in words
    # The tenant isolation kinstall can set up with it: "networkpolicy-v1", "romana-annotation",
    # "contrail-isolation" or None when it cannot isolate tenants at all.
    tenant_isolation: str | None
    ports: tuple[Port, ...]
    host_settings: dict  # sysctls, kernel modules, kernel limits
    # JSON Schema properties (Kubespray's variable names where they exist) for its settings.
    settings: dict
    groups: tuple[str, ...] = ()  # extra inventory groups it reads
    images: tuple[Image, ...] = ()  # every image its manifests run, pinned
    alternative: str = ""  # the nearest maintained choice, for legacy plugins
    notes: str = ""
    # The check of its own health on each Kubernetes host (roles/verify's kinstall_verify_host), and
    # why that check is skipped for the cluster's settings ("" runs it).
    host_check: str = ""
    host_check_title: str = ""  # how verify's report names it
    host_check_off: Callable[[dict], str] | None = None
    # The check of its state through the API (installer/verify/plugin.py).
    api_check: str = ""
    # Its own inventory rules, run by validate when it is selected: functions of validate's rule
    # context (ctx.value, ctx.at, ctx.members) that yield findings.
    rules: tuple[Callable, ...] = ()
    # What `kinstall reset` removes of it from a host: network links, iptables chain name prefixes.
    reset_links: tuple[str, ...] = ()
    reset_chains: tuple[str, ...] = ()

    def supports_minor(self, minor: tuple[int, int]) -> bool:
        low, high = self.kube_minors
        return low <= minor <= high

    def kube_range(self) -> str:
        (a, b), (c, d) = self.kube_minors
        return f"{a}.{b}" if (a, b) == (c, d) else f"{a}.{b}-{c}.{d}"
