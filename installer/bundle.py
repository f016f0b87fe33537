"""`kinstall bundle`: a directory holding every file a cluster fetches, in the mirror layout, each
checked against its sha256, filled from a files repository. An inventory then installs from it
with `download_source: bundle` and `download_bundle_dir`, with no network at all.

Every bundle carries a manifest, kinstall-bundle.json: the sha256 of every file in it (release
files in the mirror layout, image archives), the container images with their archives, and what
the bundle lacks on purpose. `kinstall bundle --check DIR` verifies a bundle against it. The
release files' sums are kinstall's own (or the inventory's); the images' come only from the
manifest, so an inventory that installs a bundle's images pins the manifest itself by its sha256
(download_bundle_sha256)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path

from installer.components import Artifact
from installer.errors import ExitCode, KinstallError

CHUNK = 1 << 20
MANIFEST = "kinstall-bundle.json"
FORMAT = "kinstall-bundle/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, target: Path, expected: str, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=30) as answer:
            for block in iter(lambda: answer.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected:
            raise KinstallError(f"{name}: sha256 mismatch for {url}: expected {expected}, found {digest.hexdigest()}; "
                                "the mirror's copy is not the release the inventory names", ExitCode.TASK_FAILED)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    except urllib.error.HTTPError as error:
        raise KinstallError(f"{name}: {url} answered {error.code} {error.reason}", ExitCode.UNREACHABLE) from None
    except (urllib.error.URLError, OSError) as error:
        raise KinstallError(f"{name}: cannot fetch {url}: {getattr(error, 'reason', error)}; check the mirror's "
                            "URL and that it is reachable", ExitCode.UNREACHABLE) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def build(found: list[Artifact], mirror: str, directory: Path, report=lambda message: None) -> list[str]:
    """Fill directory from mirror; a file already there with the right sum is kept. Refuses
    files without a known sha256 before fetching anything. Returns the files fetched."""
    unknown = [f"{a.component} {a.version} {a.arch}" for a in found if not a.sha256]
    if unknown:
        raise KinstallError(f"no sha256 is known for {', '.join(unknown)}: declare them in the inventory "
                            "(Kubespray's <component>_checksums) or leave that arch out with --arch", ExitCode.INVALID)
    fetched = []
    for a in found:
        target = directory / a.mirror_path
        if target.is_file() and _sha256(target) == a.sha256:
            continue
        name = f"{a.component} {a.version} ({a.arch})"
        report(f"fetching {name}")
        _fetch(mirror.rstrip("/") + "/" + a.mirror_path, target, a.sha256, name)
        fetched.append(a.mirror_path)
    write_manifest(directory, {a.mirror_path: a.sha256 for a in found}, artifacts=[asdict(a) for a in found])
    return fetched


def write_manifest(directory: Path, files: dict[str, str], images: list[dict] | None = None,
                   not_included: dict[str, str] | None = None, **extra) -> dict:
    """files: path in the bundle -> sha256; images: {name, path, sha256}; not_included: what the
    bundle lacks on purpose -> why. Image archives count among the files."""
    files = dict(files)
    for image in images or []:
        files[image["path"]] = image["sha256"]
    found = {"format": FORMAT, "files": dict(sorted(files.items())), "images": images or [],
             "not_included": not_included or {}, **extra}
    (directory / MANIFEST).write_text(json.dumps(found, indent=2) + "\n")
    return found


def read_manifest(directory: Path, pinned: str | None = None) -> dict:
    """The manifest, its form and paths checked; with pinned (download_bundle_sha256), only the
    manifest whose bytes have that sha256: the bytes hashed are the bytes parsed."""
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KinstallError(f"{directory} is not a kinstall bundle: it has no {MANIFEST}", ExitCode.INVALID) from None
    except OSError as error:
        raise KinstallError(f"{path} cannot be read: {error}; rebuild the bundle", ExitCode.INVALID) from None
    if pinned is not None and (found_sha := hashlib.sha256(raw).hexdigest()) != pinned:
        raise KinstallError(f"{path} has sha256 {found_sha}, and the inventory pins download_bundle_sha256: "
                            f"{pinned}: this is not the bundle the inventory trusts, so nothing was read from it. "
                            "Point download_bundle_dir at that bundle, or pin this one after checking it",
                            ExitCode.INVALID)
    try:
        found = json.loads(raw)
    except ValueError as error:
        raise KinstallError(f"{path} cannot be read: {error}; rebuild the bundle", ExitCode.INVALID) from None
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise KinstallError(f"{path} is not a {FORMAT} manifest; rebuild the bundle with this kinstall",
                            ExitCode.INVALID)
    _check_manifest(directory, found)
    return found


def manifest_sha256(directory: Path) -> str:
    """What download_bundle_sha256 pins: the sha256 of the manifest's bytes, which hold every
    file's and image's sum."""
    return _sha256(directory / MANIFEST)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_manifest(directory: Path, found: dict) -> None:
    """A manifest is input from outside: its form checked, and every path it names a plain relative
    path that stays inside the bundle, symlinks followed."""
    where = directory / MANIFEST

    def refuse(entry: str, why: str):
        raise KinstallError(f"{where}: {entry} {why}; nothing was read from this bundle", ExitCode.INVALID)

    files, images = found.get("files"), found.get("images", [])
    if not isinstance(files, dict):
        refuse("'files'", "is not a mapping of path to sha256")
    if not isinstance(images, list) or not all(isinstance(i, dict) for i in images):
        refuse("'images'", "is not a list of images")
    named = [(f"file '{name}'", name, digest) for name, digest in files.items()]
    named += [(f"image {i.get('name')!r}", i.get("path"), i.get("sha256")) for i in images]
    root = directory.resolve()
    for entry, name, digest in named:
        if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name \
                or posixpath.normpath(name) != name or name == ".." or name.startswith("../"):
            refuse(entry, "is not a plain relative path inside the bundle")
        if not (root / name).resolve().is_relative_to(root):
            refuse(entry, "leads outside the bundle (through a symlink)")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            refuse(entry, "has no sha256 of 64 lowercase hex digits")
    for image in images:
        if not isinstance(image.get("name"), str) or image.get("path") not in files:
            refuse(f"image {image.get('name')!r}", "needs a name and a path listed among the files")


def check(directory: Path) -> list[str]:
    """Every file the manifest lists is there with its sha256: the problems, by file (none: intact)."""
    problems = []
    for name, expected in read_manifest(directory)["files"].items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif (found := _sha256(path)) != expected:
            problems.append(f"{name}: sha256 {found}, the manifest says {expected} (corrupt or replaced)")
    return problems
