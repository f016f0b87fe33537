"""The lab's files repository: Debian's own builds of containerd, runc, the CNI plugins and etcd,
packed in the upstream release layout (the paths `kinstall artifacts` prints as `mirror`), with
sha256 sums computed here. Upstream release files cannot be fetched on these machines; these
can, and they are real binaries that run on the lab's Debian nodes. Debian has no crictl, so the
repository has none (the lab's inventory turns crictl off; checks use containerd's `ctr`).

Built once per recipe under KINSTALL_CACHE; an apt configuration of its own (sources, lists and
cache under the build directory) downloads the packages, so the host's apt state never changes.
Beside them, newer releases from later suites (NEWER) let the lab upgrade a component for real."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from installer import components, paths
from installer.lab import image, oci
from installer.lab.podman import LabError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCH = "amd64"
RECIPE_VERSION = 3
MANIFEST = "kinstall-lab-files.json"

# component -> (Debian packages, files taken from them, how the upstream release file holds them)
CONTENTS = {
    "containerd": (("containerd",), ("usr/bin/containerd", "usr/bin/containerd-shim",
                                      "usr/bin/containerd-shim-runc-v1", "usr/bin/containerd-shim-runc-v2",
                                      "usr/bin/ctr"), "bin/"),
    "runc": (("runc",), ("usr/sbin/runc",), None),
    "cni-plugins": (("containernetworking-plugins",), ("usr/lib/cni/bridge", "usr/lib/cni/host-local",
                                                        "usr/lib/cni/loopback", "usr/lib/cni/portmap",
                                                        "usr/lib/cni/bandwidth", "usr/lib/cni/firewall",
                                                        "usr/lib/cni/tuning", "usr/lib/cni/ptp",
                                                        "usr/lib/cni/host-device", "usr/lib/cni/static"), "./"),
    "etcd": (("etcd-server", "etcd-client"), ("usr/bin/etcd", "usr/bin/etcdctl"), "etcd-v{version}-linux-{arch}/"),
}
# Newer releases of some components, from later Debian suites, beside the bookworm ones: their
# binaries run on bookworm nodes (sid's runc does not), so the lab can upgrade a component for
# real. The lab's inventory declares both releases' checksums and names the bookworm one as the
# version. containerd comes from trixie (1.7): sid's 2.x serves only CRI v1, which the lab's
# Kubernetes 1.20 kubelet cannot speak. The CNI plugins are the `bridge` network plugin's own.
NEWER = {"etcd": "sid", "containerd": "trixie", "cni-plugins": "sid"}
# A test image for the lab's runtime checks: Debian's static busybox in an OCI archive made here.
TEST_IMAGE = "localhost/kinstall-busybox:lab"
TEST_IMAGE_FILE = "images/kinstall-busybox.oci.tar"

# The inventory variable (Kubespray's name) that declares each component's checksums.
CHECKSUM_VARIABLES = {"containerd": "containerd_archive_checksums", "runc": "runc_checksums",
                      "cni-plugins": "cni_binary_checksums", "etcd": "etcd_binary_checksums"}
VERSION_VARIABLES = {"containerd": "containerd_version", "runc": "runc_version", "cni-plugins": "cni_version",
                     "etcd": "etcd_version"}


def recipe() -> dict:
    return {"version": RECIPE_VERSION, "suite": SUITE, "mirror": MIRROR, "arch": ARCH,
            "contents": {k: [list(v[0]), list(v[1]), v[2]] for k, v in CONTENTS.items()},
            "newer": dict(NEWER)}


def directory() -> Path:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]
    return paths.cache() / f"lab-files-{digest}"


def upstream_version(debian_version: str) -> str:
    """1:1.6.20~ds1-1+deb12u3 -> 1.6.20: the upstream release a Debian package was built from."""
    version = debian_version.split(":", 1)[-1]
    match = re.match(r"[0-9]+(\.[0-9]+)*", version)
    if not match:
        raise LabError(f"cannot read an upstream version from Debian version {debian_version}")
    return match.group(0)


def manifest(root: Path | None = None) -> dict:
    """The repository's manifest: each component's version, sha256 and path; built when missing."""
    root = root or directory()
    path = root / "repo" / MANIFEST
    image.built_once(root, path, lambda: build(root), "the lab's package repository")
    return json.loads(path.read_text())


def inventory_vars(found: dict) -> dict:
    """What an inventory declares to install from this repository as a bundle."""
    values = {"download_source": "bundle", "download_bundle_dir": found["dir"], "crictl_enabled": False}
    for component, entry in found["components"].items():
        values[VERSION_VARIABLES[component]] = entry["version"]
        values[CHECKSUM_VARIABLES[component]] = {ARCH: {entry["version"]: entry["sha256"]}}
    for component, entry in found.get("newer", {}).items():
        values[CHECKSUM_VARIABLES[component]][ARCH][entry["version"]] = entry["sha256"]
    return values


def role_vars(found: dict) -> dict:
    """What kinstall would pass the roles for an inventory installing from this repository (used
    by the Molecule scenarios, which run the roles without kinstall)."""
    settings = inventory_vars(found)
    listed = []
    for component, entry in found["components"].items():
        a = components.artifact(component, entry["version"], ARCH, settings)
        listed.append({**dataclasses.asdict(a), "source": str(Path(found["dir"]) / a.mirror_path)})
    return {"kinstall_artifacts": listed, "kinstall_download_source": "bundle", "crictl_enabled": False,
            "kinstall_test_image": {"name": found["test_image"]["name"],
                                    "archive": str(Path(found["dir"]) / found["test_image"]["path"])}}


def _apt(work: Path, *args: str, cwd: Path | None = None) -> None:
    options = ["-o", f"Dir::Etc::sourcelist={work / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
               "-o", f"Dir::State::lists={work / 'lists'}", "-o", f"Dir::Cache={work / 'cache'}",
               "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1", "-q"]
    result = subprocess.run(["apt-get", *options, *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"apt-get {args[0]} for the lab's files repository failed: "
                       f"{(result.stderr or result.stdout).strip()[-800:]}")


def _pack_tar(members: dict[str, bytes]) -> bytes:
    """A gzip tarball that is the same bytes every time for the same contents."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(members[name]), 0o755, 0
            tar.addfile(info, io.BytesIO(members[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=1) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _busybox_image(busybox: bytes, target: Path) -> None:
    """An OCI image archive (what `ctr images import` reads) holding /bin/busybox and /bin/sh."""
    files = oci.layer([oci.Entry("bin"), oci.Entry("tmp", mode=0o1777), oci.Entry("bin/busybox", busybox),
                       oci.Entry("bin/sh", link="busybox")])
    oci.archive(TEST_IMAGE, [files], {"Cmd": ["/bin/sh"]}, target)


def _fetch(work: Path, suite: str, packages: list[str]) -> dict[str, str]:
    """Download the packages of one suite with an apt configuration of its own and unpack them
    into work/unpacked-<suite>; returns {package: Debian version}."""
    for sub in ("lists/partial", "cache/archives/partial", "debs"):
        (work / sub).mkdir(parents=True)
    (work / "sources.list").write_text(f"deb [signed-by={KEYRING}] {MIRROR} {suite} main\n")
    _apt(work, "update", "--error-on=any")
    _apt(work, "download", *[f"{p}:{ARCH}" for p in packages], cwd=work / "debs")
    versions = {}
    for deb in (work / "debs").glob("*.deb"):
        package = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        versions[package] = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                                           text=True, check=True).stdout.strip()
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "unpacked")], check=True)
    return versions


def _component(repo: Path, unpacked: Path, component: str, versions: dict, optional: bool = False) -> dict:
    """Pack one component in its upstream layout into the repository; its manifest entry.
    optional: files a later release no longer ships (containerd's v1 shims) may be missing."""
    packs, files, layout = CONTENTS[component]
    version = upstream_version(versions[packs[0]])
    data = {Path(f).name: (unpacked / f).read_bytes() for f in files if not optional or (unpacked / f).exists()}
    if layout is None:
        (blob,) = data.values()
    else:
        prefix = layout.format(version=version, arch=ARCH)
        blob = _pack_tar({prefix + name: content for name, content in data.items()})
    entry = components.artifact(component, version, ARCH)
    target = repo / entry.mirror_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(blob)
    return {"version": version, "sha256": hashlib.sha256(blob).hexdigest(), "path": entry.mirror_path,
            "debian_version": versions[packs[0]]}


def build(root: Path) -> None:
    work = root / "work"
    shutil.rmtree(root, ignore_errors=True)
    packages = [p for packs, _, _ in CONTENTS.values() for p in packs] + ["busybox-static"]
    versions = _fetch(work / SUITE, SUITE, packages)
    newer_versions = {suite: _fetch(work / suite, suite, [p for c, s in NEWER.items() if s == suite
                                                           for p in CONTENTS[c][0]])
                      for suite in sorted(set(NEWER.values()))}
    repo = root / "repo"
    found = {"dir": str(repo), "arch": ARCH, "debian": versions, "components": {}, "newer": {}}
    for component in CONTENTS:
        found["components"][component] = _component(repo, work / SUITE / "unpacked", component, versions)
    for component, suite in NEWER.items():
        if upstream_version(newer_versions[suite][CONTENTS[component][0][0]]) != found["components"][component]["version"]:
            found["newer"][component] = {**_component(repo, work / suite / "unpacked", component, newer_versions[suite],
                                                      optional=True), "suite": suite}
    _busybox_image((work / SUITE / "unpacked" / "bin" / "busybox").read_bytes(), repo / TEST_IMAGE_FILE)
    found["test_image"] = {"name": TEST_IMAGE, "path": TEST_IMAGE_FILE}
    (repo / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
    shutil.rmtree(work)
