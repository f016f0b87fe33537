"""Everything a cluster fetches: each file's upstream URL, its sha256 (published upstream, or
declared in the inventory with Kubespray's `<component>_checksums` variables), its path in a
files mirror (the upstream host and path, as Kubespray's files_repo lays them out) and where this
cluster fetches it from (download_source: upstream, mirror or bundle). An air-gapped mirror can be
filled from this list alone; the download role reads the same list. What each component is comes
from the catalog, components.py."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from installer import releases
from installer.components import PLUGIN_TOOLS, Artifact, artifact, download_source
from installer.errors import KinstallError
from installer.inventory.cluster import Cluster
from installer.inventory.model import find_inventory_file


def bundle_dir(cluster: Cluster) -> Path:
    base = find_inventory_file(Path(cluster.inventory_file)).resolve().parent
    return (base / str(cluster.settings["download_bundle_dir"])).resolve()


def for_cluster(cluster: Cluster, archs: list[str] | None = None) -> list[Artifact]:
    versions = {"kubeadm": cluster.release.version, "kubelet": cluster.release.version,
                "kubectl": cluster.release.version, **cluster.components}
    if cluster.settings.get("crictl_enabled") is False:
        del versions["crictl"]
    for tool in PLUGIN_TOOLS.get(cluster.plugin.name, ()):
        versions[tool] = cluster.plugin.version
    source = download_source(cluster.settings)
    found = []
    for arch in archs or releases.archs():
        for component, version in versions.items():
            a = artifact(component, version, arch, cluster.settings)
            if source == "mirror":
                a = replace(a, source=str(cluster.settings["files_repo"]).rstrip("/") + "/" + a.mirror_path)
            elif source == "bundle":
                a = replace(a, source=str(bundle_dir(cluster) / a.mirror_path))
            found.append(a)
    return found


def images_for_cluster(cluster: Cluster) -> list[dict]:
    """The container images a bundle brings (name, archive path, sha256, the group that gets it),
    from its manifest; none for the other sources, whose images come from registries, nor for a
    bundle without a readable manifest (the download stage then names what it lacks)."""
    from installer import bundle  # it imports this module

    if download_source(cluster.settings) != "bundle":
        return []
    directory = bundle_dir(cluster)
    pinned = cluster.settings.get("download_bundle_sha256")
    try:
        manifest = bundle.read_manifest(directory, pinned)
    except KinstallError:
        if pinned and (directory / bundle.MANIFEST).is_file():
            raise  # not the manifest the inventory pins (changed since validate): nothing runs
        return []
    if manifest["images"] and not pinned:
        return []  # validate refuses this; its images' sums would rest on the manifest alone
    # component/version/mirror_path: the fields the download role's checks read for any file. Which
    # hosts get an image is kinstall's to say, not the manifest's: the control plane's own images go
    # to the control planes, every other image to the Kubernetes hosts.
    return [{**image, "hosts": _image_hosts(image["name"]), "source": str(directory / image["path"]),
             "component": image["name"], "version": "image", "mirror_path": image["path"]}
            for image in manifest["images"]]


CONTROL_PLANE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def _image_hosts(name: str) -> str:
    repository = name.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return "kube_control_plane" if repository in CONTROL_PLANE_IMAGES else "k8s_cluster"


def as_dicts(found: list[Artifact]) -> list[dict]:
    return [asdict(a) for a in found]


def render(found: list[Artifact], images: list[dict] | None = None, pinned: list[dict] | None = None) -> str:
    lines = []
    for a in found:
        checksum = a.sha256 or "UNKNOWN (no published sha256 known: kinstall will not fetch it)"
        lines.append(f"{a.component:<12} {a.version:<8} {a.arch:<6} {a.stage:<14} {a.url}\n"
                     f"{'':<12} sha256 {checksum}\n{'':<12} mirror {a.mirror_path}"
                     + (f"\n{'':<12} from   {a.source}" if a.source != a.url else ""))
    for image in images or []:
        lines.append(f"image        {image['name']}  ({image.get('hosts', 'k8s_cluster')})\n"
                     f"{'':<12} sha256 {image['sha256']}\n{'':<12} from   {image['source']}")
    if not images:
        lines.append("bundle images: none (a bundle lists the images it brings; registries serve them otherwise)")
    for image in pinned or []:
        lines.append(f"image        {image['name']:<26} {image['stage']:<8} {image['hosts']:<20} {image['reference']}"
                     + (f"\n{'':<12} upstream {image['upstream']} (rewritten by {image['registry_setting']})"
                        if image["reference"] != image["upstream"] else ""))
    return "\n".join(lines)
