"""Every container image a cluster runs beyond kubeadm's own: the network plugin's and the
addons', each pinned, with the registry named by Kubespray's variable for it so that pointing
kube_image_repo, quay_image_repo or docker_image_repo at a mirror rewrites them all. The roles'
templates read the references from here (extra variable kinstall_image_refs); `kinstall
artifacts` lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from installer.plugins.base import Image

if TYPE_CHECKING:  # a type only: validation reads this catalog, so it may not import the inventory
    from installer.inventory.cluster import Cluster

# Kubespray's registry variables and their defaults.
REGISTRIES = {"kube_image_repo": "registry.k8s.io", "quay_image_repo": "quay.io", "docker_image_repo": "docker.io"}

CSI_SIDECARS = (
    Image("csi-provisioner", "kube_image_repo", "sig-storage/csi-provisioner", "v5.2.0", "k8s_cluster",
          "ceph_csi_enabled"),
    Image("csi-attacher", "kube_image_repo", "sig-storage/csi-attacher", "v4.8.1", "k8s_cluster", "ceph_csi_enabled"),
    Image("csi-resizer", "kube_image_repo", "sig-storage/csi-resizer", "v1.13.2", "k8s_cluster", "ceph_csi_enabled"),
    Image("csi-node-driver-registrar", "kube_image_repo", "sig-storage/csi-node-driver-registrar", "v2.13.0",
          "k8s_cluster", "ceph_csi_enabled"),
)
ADDONS = (
    Image("metrics-server", "kube_image_repo", "metrics-server/metrics-server", "v0.8.0", "k8s_cluster",
          "metrics_server_enabled"),
    Image("nfs-provisioner", "kube_image_repo", "sig-storage/nfs-subdir-external-provisioner", "v4.0.2",
          "k8s_cluster", "nfs_storage_classes"),
    Image("cephcsi", "quay_image_repo", "cephcsi/cephcsi", "v3.15.0", "k8s_cluster", "ceph_csi_enabled"),
    *CSI_SIDECARS,
)


def _coredns(cluster: Cluster) -> Image | None:
    if cluster.settings.get("dns_mode", "coredns") != "coredns" or not cluster.release.coredns_image:
        return None
    path, tag = cluster.release.coredns_image.rsplit(":", 1)
    return Image("coredns", "kube_image_repo", path, tag)


def _nodelocaldns(cluster: Cluster) -> Image | None:
    """Kubespray's nodelocaldns_version: the node-cache image of Kubernetes' DNS project."""
    if cluster.settings.get("dns_mode") != "coredns" or not cluster.settings.get("enable_nodelocaldns"):
        return None
    return Image("nodelocaldns", "kube_image_repo", "dns/k8s-dns-node-cache", "1.25.0")


def _enabled(image: Image, settings: dict) -> bool:
    if not image.enabled_by:
        return True
    return bool(settings.get(image.enabled_by))


def used(cluster: Cluster) -> list[tuple[str, Image]]:
    """(stage, image) for each image this cluster runs, in the order the stages apply them."""
    found = [("network", image) for image in cluster.plugin.images if _enabled(image, cluster.settings)]
    coredns = _coredns(cluster)
    if coredns:
        found.append(("addons", coredns))
        if cluster.settings.get("enable_dns_autoscaler"):
            found.append(("addons", Image("dns-autoscaler", "kube_image_repo", "cpa/cluster-proportional-autoscaler",
                                          "v1.8.8")))
        nodelocaldns = _nodelocaldns(cluster)
        if nodelocaldns:
            found.append(("addons", nodelocaldns))
    found += [("addons", image) for image in ADDONS if _enabled(image, cluster.settings)]
    return found


def registry(image: Image, settings: dict) -> str:
    return str(settings.get(image.repo) or REGISTRIES[image.repo])


def references(cluster: Cluster) -> dict[str, str]:
    """name -> the reference the manifests use (the registry variable applied)."""
    return {image.name: image.reference(registry(image, cluster.settings)) for _, image in used(cluster)}


def for_cluster(cluster: Cluster) -> list[dict]:
    """Each image as `kinstall artifacts` lists it: where it is pulled from and its upstream."""
    return [{"name": image.name, "stage": stage, "hosts": image.hosts, "registry_setting": image.repo,
             "reference": image.reference(registry(image, cluster.settings)),
             "upstream": image.reference(REGISTRIES[image.repo])}
            for stage, image in used(cluster)]
