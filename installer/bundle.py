"""`kinstall bundle`: a directory holding every file a cluster fetches, in the mirror layout, each
checked against its sha256, filled from a files repository. An inventory then installs from it
with `download_source: bundle` and `download_bundle_dir`, with no network at all."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path

from installer.artifacts import Artifact
from installer.errors import ExitCode, KinstallError

CHUNK = 1 << 20
MANIFEST = "kinstall-bundle.json"


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
    (directory / MANIFEST).write_text(json.dumps([asdict(a) for a in found], indent=2) + "\n")
    return fetched
