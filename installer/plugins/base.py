"""What a network plugin declares. Each plugin module holds one NetworkPlugin with its facts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    protocol: str  # tcp | udp | ip (an IP protocol number, e.g. 4 for IPIP)
    port: int | str
    hosts: str  # which hosts listen/accept: "all", "control_plane", "controllers", ...
    purpose: str
    owners: tuple[str, ...] = ()  # process names (prefixes) that may hold it: the plugin's own

    def label(self) -> str:
        if self.protocol == "ip":
            return f"IP proto {self.port}"
        return f"{self.protocol.upper()} {self.port}"


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
    # Whether the network stage (roles/network) installs it on hosts; the others stop before any
    # host is contacted when a run includes that stage.
    installs_on_hosts: bool = False
    alternative: str = ""  # the nearest maintained choice, for legacy plugins
    notes: str = ""

    def supports_minor(self, minor: tuple[int, int]) -> bool:
        low, high = self.kube_minors
        return low <= minor <= high

    def kube_range(self) -> str:
        (a, b), (c, d) = self.kube_minors
        return f"{a}.{b}" if (a, b) == (c, d) else f"{a}.{b}-{c}.{d}"
