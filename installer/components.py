"""The components kinstall installs from release files, in one catalog: for each, its upstream
URL, the stage that needs it, the hosts that get it and Kubespray's variable for the checksums an
inventory declares. Knows nothing of a cluster (artifacts.py lists a cluster's files from it), so
validation can read it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from installer import releases


@dataclass(frozen=True)
class Component:
    url: str  # the upstream file, with {version} and {arch}
    stage: str  # the stage that needs it: a stage fetches only what it uses
    hosts: str  # the group whose hosts get it
    checksum_setting: str  # Kubespray's variable for sums an inventory declares: {arch: {version: sha256}}


# Facts from the projects' release pages.
COMPONENTS = {
    "kubeadm": Component("https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubeadm", "control-plane",
                         "k8s_cluster", "kubeadm_checksums"),
    "kubelet": Component("https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubelet", "control-plane",
                         "k8s_cluster", "kubelet_checksums"),
    "kubectl": Component("https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl", "control-plane",
                         "kube_control_plane", "kubectl_checksums"),
    "etcd": Component("https://github.com/etcd-io/etcd/releases/download/v{version}/etcd-v{version}-linux-{arch}.tar.gz",
                      "etcd", "etcd", "etcd_binary_checksums"),
    "containerd": Component("https://github.com/containerd/containerd/releases/download/v{version}/"
                            "containerd-{version}-linux-{arch}.tar.gz", "runtime", "k8s_cluster",
                            "containerd_archive_checksums"),
    "runc": Component("https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}", "runtime",
                      "k8s_cluster", "runc_checksums"),
    "cni-plugins": Component("https://github.com/containernetworking/plugins/releases/download/v{version}/"
                             "cni-plugins-linux-{arch}-v{version}.tgz", "runtime", "k8s_cluster",
                             "cni_binary_checksums"),
    "crictl": Component("https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/"
                        "crictl-v{version}-linux-{arch}.tar.gz", "runtime", "k8s_cluster", "crictl_checksums"),
    "calicoctl": Component("https://github.com/projectcalico/calico/releases/download/v{version}/calicoctl-linux-{arch}",
                           "network", "kube_control_plane", "calicoctl_binary_checksums"),
    # Calico's source archive: its manifests/crds.yaml holds the CustomResourceDefinitions.
    "calico-crds": Component("https://github.com/projectcalico/calico/archive/v{version}.tar.gz", "network",
                             "kube_control_plane", "calico_crds_archive_checksums"),
}
# The files a network plugin brings beyond the node's own (at the plugin's version).
PLUGIN_TOOLS = {"calico": ("calicoctl", "calico-crds")}


@dataclass(frozen=True)
class Artifact:
    component: str
    version: str
    arch: str
    url: str
    sha256: str | None  # None: no published checksum is known, so kinstall will not fetch it
    mirror_path: str  # where a files mirror (or a bundle directory) keeps it
    stage: str
    hosts: str = ""  # the group whose hosts get it
    source: str = ""  # where this cluster fetches it: the URL, a mirror URL or a bundle file


def declared_checksum(settings: dict, component: str, arch: str, version: str) -> str | None:
    """A checksum the inventory declares (versions written with or without a leading v)."""
    table = settings.get(COMPONENTS[component].checksum_setting)
    by_version = table.get(arch) if isinstance(table, dict) else None
    if not isinstance(by_version, dict):
        return None
    found = by_version.get(version, by_version.get(f"v{version}"))
    return found.lower() if isinstance(found, str) else None


def artifact(component: str, version: str, arch: str, settings: dict | None = None) -> Artifact:
    known = COMPONENTS[component]
    url = known.url.format(version=version, arch=arch)
    parsed = urlparse(url)
    sha256 = (declared_checksum(settings or {}, component, arch, version)
              or releases.component_checksum(component, arch, version))
    return Artifact(component, version, arch, url, sha256, parsed.netloc + parsed.path, known.stage, known.hosts, url)


def download_source(settings: dict) -> str:
    """upstream, mirror or bundle; a Kubespray inventory that sets files_repo means its mirror."""
    return settings.get("download_source") or ("mirror" if settings.get("files_repo") else "upstream")
