"""OCI image archives made in Python, the same bytes every time for the same contents: what
`ctr images import` reads. The lab builds its images this way because no registry, and no image
from one, can be reached from these machines."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

ARCH = "amd64"


@dataclass(frozen=True)
class Entry:
    """One member of a layer: a file (data), a directory (data None, no link) or a symlink."""
    path: str
    data: bytes | None = None
    mode: int = 0o755
    link: str = ""


def _js(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def layer(entries: list[Entry]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mode, info.mtime = entry.mode, 0
            if entry.link:
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            elif entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return raw.getvalue()


def layer_from_directory(root: Path) -> bytes:
    """A layer holding a whole directory tree (a root filesystem), owners and modes kept."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for directory, subdirs, files in os.walk(root):
            subdirs.sort()
            for name in sorted(subdirs) + sorted(files):
                path = Path(directory) / name
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                info.mtime = 0
                if info.isreg():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                elif not (stat.S_ISSOCK(path.lstat().st_mode) or stat.S_ISFIFO(path.lstat().st_mode)):
                    tar.addfile(info)
    return raw.getvalue()


def archive(name: str, layers: list[bytes], config: dict, target: Path) -> str:
    """Write an OCI image archive of `name` to target; returns its sha256."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    layer_descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(data)} for data in layers]
    image_config = {"architecture": ARCH, "os": "linux", "config": config,
                    "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descs]}}
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(_js(image_config))}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": layer_descs}
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(_js(manifest)),
                     "annotations": {"io.containerd.image.name": name,
                                     "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}
    members = {"oci-layout": _js({"imageLayoutVersion": "1.0.0"}),
               "index.json": _js({"schemaVersion": 2, "manifests": [manifest_desc]})}
    for digest, data in blobs.items():
        members["blobs/sha256/" + digest.split(":")[1]] = data
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with target.open("wb") as out:
        with tarfile.open(fileobj=_Hashing(out, digest), mode="w", format=tarfile.GNU_FORMAT) as tar:
            for member in sorted(members):
                info = tarfile.TarInfo(member)
                info.size, info.mode = len(members[member]), 0o644
                tar.addfile(info, io.BytesIO(members[member]))
    return digest.hexdigest()


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, out, digest):
        self.out, self.digest = out, digest

    def write(self, data):
        self.digest.update(data)
        return self.out.write(data)

    def tell(self):
        return self.out.tell()
