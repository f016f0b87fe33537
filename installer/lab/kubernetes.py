"""A real Kubernetes for the lab: v1.20.2 built from Debian's source package, its images made here.

No Kubernetes binary or image can be downloaded on these machines, but Debian still serves the
complete upstream v1.20.2 tree as the source package `kubernetes` (Debian builds only kubectl from
it) and, in bullseye, the Go 1.15 that builds it. This module fetches both with an apt
configuration of its own (the host's apt state never changes), runs Kubernetes' own
`make generated_files`, builds static binaries reporting v1.20.2, compiles the pause container
from the same tree and packs the images kubeadm 1.20 asks for as OCI archives (no registry).

The result lives under KINSTALL_CACHE in a directory named by the recipe's hash; a build goes to
a `.partial` directory first and is renamed only when complete, so a failed or interrupted build
never leaves a half-written result. Kubernetes 1.20 is end of life upstream: for the lab only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from installer import components, paths
from installer.artifacts import CONTROL_PLANE_IMAGES
from installer.lab import image, oci
from installer.lab.podman import LabError

VERSION = "1.20.2"
SOURCE_PACKAGE = "kubernetes"
SOURCE_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
SOURCE_SUITE = "bookworm"
GO_SUITE = "bullseye"  # bookworm's Go 1.19 refuses the tree's vendor/ in module mode
GO_PACKAGES = ("golang-1.15-go", "golang-1.15-src")
GO_ROOT = "usr/lib/go-1.15"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCH = "amd64"
COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
            "kube-proxy")
# The images `kubeadm config images list` names for v1.20.2 that can be made here. etcd is the
# etcd stage's own (Debian's, outside any container); no CoreDNS can be made (Debian has none).
REGISTRY = "k8s.gcr.io"
PAUSE_VERSION = "3.2"
# kube-proxy runs iptables, conntrack and ipset inside its container: a minimal Debian holds them.
PROXY_PACKAGES = ("iptables", "conntrack", "ipset")
NOT_BUILT = {f"{REGISTRY}/coredns:1.7.0": "Debian has no CoreDNS (any suite): the lab's cluster runs without DNS",
             f"{REGISTRY}/etcd:3.4.13-0": "not needed: the etcd stage runs Debian's etcd outside any container"}
RECIPE_VERSION = 1
MANIFEST = "kinstall-lab-kubernetes.json"
# Measured: 2.6 GB of disk during the build (tree, generated files, Go's build cache); kept: ~0.5 GB.
DISK_NEEDED = 4 * 1024 ** 3


def recipe() -> dict:
    return {"version": RECIPE_VERSION, "kubernetes": VERSION, "source": [SOURCE_PACKAGE, SOURCE_VERSION, SOURCE_SUITE],
            "go": [list(GO_PACKAGES), GO_SUITE], "mirror": MIRROR, "arch": ARCH, "commands": list(COMMANDS),
            "pause": PAUSE_VERSION, "proxy_packages": list(PROXY_PACKAGES), "ldflags": _ldflags()}


def directory() -> Path:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]
    return paths.cache() / f"lab-kubernetes-{digest}"


def image_name(component: str) -> str:
    return f"{REGISTRY}/{component}:v{VERSION}"


def _ldflags() -> str:
    major, minor = VERSION.split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.gitVersion=v{VERSION}", f"-X {package}.gitMajor={major}",
                  f"-X {package}.gitMinor={minor}", f"-X {package}.gitTreeState=clean",
                  f"-X {package}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(flags)


def manifest(root: Path | None = None, build_if_missing: bool = True, report=lambda message: None) -> dict:
    """The build's manifest: every file with its sha256, the images; built when missing."""
    root = root or directory()
    path = root / MANIFEST
    if not path.exists():
        if not build_if_missing:
            raise LabError(f"the lab's Kubernetes is not built yet ({root}): run `kinstall lab kubernetes`")
        image.built_once(root, path, lambda: build(root, report), "the lab's Kubernetes", report)
    found = json.loads(path.read_text())
    if found.get("recipe") != recipe():
        raise LabError(f"{root} holds a build from another recipe (kinstall changed how it builds Kubernetes "
                       f"since); remove it (rm -rf {root}) and build again with `kinstall lab kubernetes`")
    return found


def _run(command: list[str], what: str, log: Path, **kwargs) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise LabError(f"{what} failed (exit {result.returncode}); the last lines of {log}:\n  " + "\n  ".join(tail))


def _apt(work: Path, log: Path, *args: str, what: str, cwd: Path | None = None) -> None:
    options = ["-o", f"Dir::Etc::sourcelist={work / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
               "-o", f"Dir::State::lists={work / 'lists'}", "-o", f"Dir::Cache={work / 'cache'}",
               "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1", "-q"]
    _run(["apt-get", *options, *args], what, log, cwd=cwd)


def _check_disk(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free
    if free < DISK_NEEDED:
        raise LabError(f"too little disk to build the lab's Kubernetes: {free / 1024 ** 3:.1f} GB free at {where}, "
                       f"the build needs {DISK_NEEDED / 1024 ** 3:.0f} GB; free some space or point KINSTALL_CACHE "
                       "at a larger disk")


def build(root: Path, report=lambda message: None) -> dict:
    """Build into root.partial, then rename it to root: all or nothing. The build's log stays
    beside it (root.build.log) for whoever reads a failure."""
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _check_disk(root.parent)
    work = partial / "work"
    for sub in ("lists/partial", "cache/archives/partial", "source", "debs", "go", "proxy-root"):
        (work / sub).mkdir(parents=True)
    log = root.with_name(root.name + ".build.log")
    log.write_text(f"building {root.name}: {json.dumps(recipe())}\n")
    started = time.monotonic()
    try:
        found = _build(partial, work, log, report, final=root)
        found["build_seconds"] = round(time.monotonic() - started, 1)
        (partial / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
        shutil.rmtree(work)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(partial, root)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return found


def _build(out: Path, work: Path, log: Path, report, final: Path) -> dict:
    (work / "sources.list").write_text(
        f"deb-src [signed-by={KEYRING}] {MIRROR} {SOURCE_SUITE} main\n"
        f"deb [signed-by={KEYRING}] {MIRROR} {GO_SUITE} main\n")
    report("fetching Debian's package lists")
    _apt(work, log, "update", "--error-on=any", what=f"apt-get update against {MIRROR}")
    report(f"fetching the source package {SOURCE_PACKAGE} {SOURCE_VERSION} and Go ({', '.join(GO_PACKAGES)})")
    _apt(work, log, "source", "--download-only", f"{SOURCE_PACKAGE}={SOURCE_VERSION}", cwd=work / "source",
         what=f"downloading the source package {SOURCE_PACKAGE}={SOURCE_VERSION} from {SOURCE_SUITE} (the lab's "
              "Kubernetes is built from it; is it still in Debian's archive?)")
    _apt(work, log, "download", *[f"{p}:{ARCH}" for p in GO_PACKAGES], cwd=work / "debs",
         what=f"downloading Go ({', '.join(GO_PACKAGES)}) from {GO_SUITE}")
    (orig,) = (work / "source").glob("*.orig.tar.*")
    with tarfile.open(orig) as tar:
        top = tar.next().name.split("/")[0]
    _run(["tar", "-xf", str(orig), "-C", str(work / "source")], "unpacking the source", log)
    tree = work / "source" / top
    for deb in sorted((work / "debs").glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(work / "go")], f"unpacking {deb.name}", log)
    goroot = work / "go" / GO_ROOT
    env = {"PATH": f"{goroot / 'bin'}{os.pathsep}/usr/bin:/bin", "GOROOT": str(goroot), "GOPATH": str(work / "gopath"),
           "GOCACHE": str(work / "gocache"), "GOFLAGS": "-mod=vendor", "GOPROXY": "off", "CGO_ENABLED": "0",
           "HOME": str(work), "LANG": "C.UTF-8"}
    report("running Kubernetes' make generated_files (about a minute)")
    _run(["make", "generated_files"], "make generated_files (it needs rsync and make on this machine)", log,
         cwd=tree, env=env)
    bin_dir = out / "repo" / components.artifact("kubeadm", VERSION, ARCH).mirror_path.rsplit("/", 1)[0]
    bin_dir.mkdir(parents=True)
    report(f"building {', '.join(COMMANDS)} (a few minutes on 2 cores)")
    _run(["go", "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(bin_dir) + "/",
          *[f"./cmd/{name}" for name in COMMANDS]], "go build", log, cwd=tree, env=env)
    report("compiling pause and packing the images")
    pause = work / "pause"
    _run(["gcc", "-static", "-O2", f"-DVERSION={PAUSE_VERSION}", "-o", str(pause),
          str(tree / "build" / "pause" / "linux" / "pause.c")], "compiling pause (gcc, static)", log)
    images = [_image(out, f"{REGISTRY}/pause:{PAUSE_VERSION}", "pause", [oci.Entry("pause", pause.read_bytes())],
                     {"Entrypoint": ["/pause"], "User": "65535:65535"})]
    for name in CONTROL_PLANE_IMAGES:
        images.append(_image(out, image_name(name), name,
                             [oci.Entry("usr"), oci.Entry("usr/local"), oci.Entry("usr/local/bin"),
                              oci.Entry(f"usr/local/bin/{name}", (bin_dir / name).read_bytes())],
                             {"Entrypoint": [f"/usr/local/bin/{name}"]}))
    report(f"making kube-proxy's image: a minimal Debian with {', '.join(PROXY_PACKAGES)}")
    images.append(_proxy_image(out, work, log, (bin_dir / "kube-proxy").read_bytes()))
    files = {}
    for path in sorted(p for p in (out / "repo").rglob("*") if p.is_file()):
        files[str(path.relative_to(out / "repo"))] = _sha256(path)
    return {"recipe": recipe(), "kubernetes": VERSION, "arch": ARCH, "dir": str(final / "repo"),
            "debian_source": f"{SOURCE_PACKAGE} {SOURCE_VERSION}",
            "go": f"{' '.join(GO_PACKAGES)} ({GO_SUITE})", "files": files, "images": images,
            "not_built": NOT_BUILT}


def _image(out: Path, name: str, stem: str, entries: list[oci.Entry], config: dict) -> dict:
    path = f"images/{stem}.oci.tar"
    sha256 = oci.archive(name, [oci.layer(entries)], config, out / "repo" / path)
    return {"name": name, "path": path, "sha256": sha256}


def _proxy_image(out: Path, work: Path, log: Path, binary: bytes) -> dict:
    root = work / "proxy-root"
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PROXY_PACKAGES)}", SOURCE_SUITE, str(root),
          MIRROR], "debootstrap of kube-proxy's base", log)
    for trim in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives",
                 "var/lib/apt/lists"):
        shutil.rmtree(root / trim, ignore_errors=True)
    for node in (root / "dev").iterdir():  # the container runtime provides /dev
        shutil.rmtree(node) if node.is_dir() and not node.is_symlink() else node.unlink()
    (root / "usr" / "local" / "bin" / "kube-proxy").write_bytes(binary)
    (root / "usr" / "local" / "bin" / "kube-proxy").chmod(0o755)
    path = "images/kube-proxy.oci.tar"
    sha256 = oci.archive(image_name("kube-proxy"), [oci.layer_from_directory(root)],
                         {"Entrypoint": ["/usr/local/bin/kube-proxy"]}, out / "repo" / path)
    return {"name": image_name("kube-proxy"), "path": path, "sha256": sha256}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
