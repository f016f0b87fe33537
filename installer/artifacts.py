"""Everything a cluster fetches: each file's upstream URL, its published sha256 and its path in
a files mirror (the upstream host and path, as Kubespray's files_repo lays them out), so an
air-gapped mirror can be filled from this list alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlparse

from installer import releases
from installer.inventory.cluster import Cluster

# Upstream file of each component (facts from the projects' release pages).
URLS = {
    "kubeadm": "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubeadm",
    "kubelet": "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubelet",
    "kubectl": "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl",
    "etcd": "https://github.com/etcd-io/etcd/releases/download/v{version}/etcd-v{version}-linux-{arch}.tar.gz",
    "containerd": "https://github.com/containerd/containerd/releases/download/v{version}/"
                  "containerd-{version}-linux-{arch}.tar.gz",
    "runc": "https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}",
    "cni-plugins": "https://github.com/containernetworking/plugins/releases/download/v{version}/"
                   "cni-plugins-linux-{arch}-v{version}.tgz",
    "crictl": "https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/"
              "crictl-v{version}-linux-{arch}.tar.gz",
    "calicoctl": "https://github.com/projectcalico/calico/releases/download/v{version}/calicoctl-linux-{arch}",
}
# The stage that needs each file: a stage fetches only what it uses.
STAGES = {"kubeadm": "control-plane", "kubelet": "nodes", "kubectl": "control-plane", "etcd": "etcd",
          "containerd": "runtime", "runc": "runtime", "cni-plugins": "runtime", "crictl": "runtime",
          "calicoctl": "network"}
PLUGIN_TOOLS = {"calico": ("calicoctl",)}


@dataclass(frozen=True)
class Artifact:
    component: str
    version: str
    arch: str
    url: str
    sha256: str | None  # None: no published checksum is known, so kinstall will not fetch it
    mirror_path: str  # where a files mirror (or a bundle directory) keeps it
    stage: str


def artifact(component: str, version: str, arch: str) -> Artifact:
    url = URLS[component].format(version=version, arch=arch)
    parsed = urlparse(url)
    return Artifact(component, version, arch, url, releases.component_checksum(component, arch, version),
                    parsed.netloc + parsed.path, STAGES[component])


def for_cluster(cluster: Cluster, archs: list[str] | None = None) -> list[Artifact]:
    versions = {"kubeadm": cluster.release.version, "kubelet": cluster.release.version,
                "kubectl": cluster.release.version, **cluster.components}
    for tool in PLUGIN_TOOLS.get(cluster.plugin.name, ()):
        versions[tool] = cluster.plugin.version
    return [artifact(component, version, arch) for arch in (archs or releases.archs())
            for component, version in versions.items()]


def as_dicts(found: list[Artifact]) -> list[dict]:
    return [asdict(a) for a in found]


def render(found: list[Artifact]) -> str:
    lines = []
    for a in found:
        checksum = a.sha256 or "UNKNOWN (no published sha256 known: kinstall will not fetch it)"
        lines.append(f"{a.component:<12} {a.version:<8} {a.arch:<6} {a.stage:<14} {a.url}\n"
                     f"{'':<12} sha256 {checksum}\n{'':<12} mirror {a.mirror_path}")
    lines.append("images: none yet (the stages that run containers, network and addons, are not written yet)")
    return "\n".join(lines)
