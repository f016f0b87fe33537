"""The lab's offline bundle: everything a lab cluster installs, in the format the `bundle` download
source consumes, so the lab exercises the same air-gapped path as users without internet.

It joins the two things the lab builds from Debian's archive alone: the files repository
(containerd, runc, CNI plugins, etcd and a test image; files_repo.py) and Kubernetes v1.20.2 with
its images (kubernetes.py). Files are hard links into those caches (copies across filesystems);
the manifest (kinstall-bundle.json) lists the sha256 of every file. Assembled in a `.partial`
directory and renamed when complete."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from installer import bundle as bundles
from installer import components, paths
from installer.lab import files_repo, image, kubernetes

KUBE_CHECKSUM_VARIABLES = {"kubeadm": "kubeadm_checksums", "kubelet": "kubelet_checksums",
                           "kubectl": "kubectl_checksums"}


def _sources(report) -> tuple[dict, dict]:
    return files_repo.manifest(), kubernetes.manifest(report=report)


# Bumped when what _assemble makes from the same sources changes (2: the test image is one of the
# bundle's images, imported on every node: kinstall verify's pods run it on the lab).
LAYOUT = 2


def directory(files: dict, kube: dict) -> Path:
    digest = hashlib.sha256(json.dumps([files, kube, LAYOUT], sort_keys=True).encode()).hexdigest()[:12]
    return paths.cache() / f"lab-bundle-{digest}"


def ensure(report=lambda message: None) -> dict:
    """The bundle's manifest; the bundle is built first when missing."""
    files, kube = _sources(report)
    root = directory(files, kube)
    image.built_once(root, root / bundles.MANIFEST, lambda: _assemble(root, files, kube), "the lab's bundle", report)
    return {**bundles.read_manifest(root), "dir": str(root)}


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _assemble(root: Path, files: dict, kube: dict) -> None:
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    listed: dict[str, str] = {}
    for entry in [*files["components"].values(), *files.get("newer", {}).values()]:
        _link(Path(files["dir"]) / entry["path"], partial / entry["path"])
        listed[entry["path"]] = entry["sha256"]
    test_image = files["test_image"]
    _link(Path(files["dir"]) / test_image["path"], partial / test_image["path"])
    for path, sha256 in kube["files"].items():
        _link(Path(kube["dir"]) / path, partial / path)
        listed[path] = sha256
    # Which hosts get each image is kinstall's decision (artifacts.images_for_cluster), not the manifest's.
    images = [dict(image) for image in kube["images"]]
    test_sha = hashlib.sha256((partial / test_image["path"]).read_bytes()).hexdigest()
    listed[test_image["path"]] = test_sha
    images.append({"name": test_image["name"], "path": test_image["path"], "sha256": test_sha})
    bundles.write_manifest(partial, listed, images, kube["not_built"],
                           test_image={**test_image, "sha256": test_sha},
                           built_from={"debian": files["debian"], "kubernetes": kube["debian_source"], "go": kube["go"]})
    shutil.rmtree(root, ignore_errors=True)
    os.replace(partial, root)


def inventory_vars(found: dict) -> dict:
    """What the lab's inventory declares: Kubernetes 1.20.2 with the bridge plugin and no cluster
    DNS, installed from this bundle with the checksums computed when it was built."""
    values = {**files_repo.inventory_vars({**files_repo.manifest(), "dir": found["dir"]}),
              # The bundle brings images, whose sums only its manifest gives: the inventory pins it.
              "download_bundle_sha256": bundles.manifest_sha256(Path(found["dir"])),
              "kube_version": kubernetes.VERSION, "kube_network_plugin": "bridge",
              # The lab's nodes protect the host's global kernel settings (nf_conntrack_max among them).
              "kube_proxy_conntrack_max_per_core": 0,
              # No CoreDNS image can be made here (only Kubernetes' own are built from source).
              "dns_mode": "none",
              # The lab's kernel has no IPVS (Kubespray's default mode, and kinstall's).
              "kube_proxy_mode": "iptables",
              # kubelet 1.20 would check the node's kernel settings, which the lab stands in for.
              "kubelet_protect_kernel_defaults": False,
              # kinstall verify's pods: the lab's own busybox, which the bundle brings to every node.
              "verify_image": files_repo.TEST_IMAGE}
    for component, variable in KUBE_CHECKSUM_VARIABLES.items():
        path = components.artifact(component, kubernetes.VERSION, kubernetes.ARCH).mirror_path
        values[variable] = {kubernetes.ARCH: {kubernetes.VERSION: found["files"][path]}}
    return values
