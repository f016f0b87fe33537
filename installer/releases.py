"""The Kubernetes releases kinstall supports, derived from package data.

A release is supported when its minor is listed in data/releases.yml and the sha256 of kubeadm,
kubelet and kubectl is known for every architecture (data/checksums.yml). Nothing here is
hard-coded per patch release, so adding a checksum adds a release.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

KUBE_BINARIES = ("kubeadm", "kubelet", "kubectl")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)\Z")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """'v1.35.2' or '1.35.2' -> (1, 35, 2); anything else -> None."""
    match = _VERSION.match(text.strip()) if isinstance(text, str) else None
    return tuple(int(part) for part in match.groups()) if match else None


def minor_of(version: tuple[int, int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Release:
    version: str  # without the leading "v"
    minor: str
    status: str  # current | legacy
    kubeadm_api: str
    components: dict
    sandbox_image: str = ""  # the pause image its kubeadm expects
    coredns_image: str = ""  # the CoreDNS image its kubeadm deploys, as a path under kube_image_repo

    @property
    def tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)


def _load_yaml(name: str):
    text = resources.files("installer.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def checksums() -> dict:
    """component -> arch -> version -> sha256, as published by upstream."""
    return _load_yaml("checksums.yml")


@functools.cache
def _catalogue() -> dict:
    return _load_yaml("releases.yml")


def archs() -> list[str]:
    return list(_catalogue()["archs"])


@functools.cache
def supported() -> dict[str, Release]:
    """version -> Release, for every supported patch release, oldest first."""
    table = checksums()
    catalogue = _catalogue()
    found: dict[str, Release] = {}
    for minor, info in catalogue["minors"].items():
        candidates = set.intersection(
            *(set(table[binary][arch]) for binary in KUBE_BINARIES for arch in catalogue["archs"])
        )
        for version in candidates:
            if minor_of(parse_version(version)) == minor:
                found[version] = Release(
                    version=version,
                    minor=minor,
                    status=info["status"],
                    kubeadm_api=info["kubeadm_api"],
                    components=dict(info["components"]),
                    sandbox_image=info.get("sandbox_image", ""),
                    coredns_image=info.get("coredns_image", ""),
                )
    return {v: found[v] for v in sorted(found, key=version_key)}


def get(version_text: str) -> Release | None:
    parsed = parse_version(version_text)
    if parsed is None:
        return None
    return supported().get(".".join(map(str, parsed)))


def summarize(versions) -> str:
    """Compress a list of versions into ranges per minor: '1.34.0-1.34.11, 1.35.0-1.35.8'."""
    by_minor: dict[str, list[str]] = {}
    for version in sorted(versions, key=version_key):
        by_minor.setdefault(minor_of(parse_version(version)), []).append(version)
    parts = []
    for patches in by_minor.values():
        parts.append(patches[0] if len(patches) == 1 else f"{patches[0]}-{patches[-1]}")
    return ", ".join(parts)


def component_checksum(component: str, arch: str, version: str) -> str | None:
    return checksums().get(component, {}).get(arch, {}).get(version)
