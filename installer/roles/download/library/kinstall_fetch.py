#!/usr/bin/python3
"""Fetch release files to the controller's cache and verify their sha256, all in one call. A file
already in the cache with the right sum is left alone (nothing to do); a bundle file (a local
path) is verified where it lies. A wrong sum or a source that cannot be reached fails naming the
file, where it came from and what to do (every such file, not only the first); nothing
half-written stays behind."""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_fetch
short_description: fetch a file once to the controller, verified by sha256
options:
  files:
    description: >-
      artifacts as kinstall lists them: component, version and arch (named in messages), source (an
      http(s) or file URL, or a local path in a bundle, verified in place), sha256 and mirror_path
    type: list
    elements: dict
    required: true
  cache_dir: {description: the controller's cache; a file goes to its mirror_path there, type: str, required: true}
  timeout: {description: seconds to wait for the server, type: int, default: 30}
"""
FIELDS = ("component", "version", "arch", "source", "sha256", "mirror_path")


class Failed(Exception):
    """A file that could not be fetched or verified; the message says which and what to do."""
CHUNK = 1 << 20


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(entry, cache_dir, timeout, check_mode):
    """True when the file was fetched now; raises Failed."""
    missing = [field for field in FIELDS if not entry.get(field)]
    if missing:
        raise Failed(f"an artifact lacks {', '.join(missing)}: {entry}")
    name = f"{entry['component']} {entry['version']} ({entry['arch']})"
    source, dest = entry["source"], os.path.join(cache_dir, entry["mirror_path"])
    expected = entry["sha256"].lower()
    if "://" not in source:  # a bundle: verify the file where it is
        if not os.path.isfile(source):
            raise Failed(f"{name}: {source} is not in the bundle; rebuild the bundle with `kinstall bundle` "
                         "or check download_bundle_dir")
        found = sha256_of(source)
        if found != expected:
            raise Failed(f"{name}: sha256 mismatch for {source}: expected {expected}, found {found}; the "
                         "bundle's file is not the release the inventory names (rebuild the bundle)")
        return False
    if os.path.isfile(dest) and sha256_of(dest) == expected:
        return False
    if check_mode:
        return True
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".part-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(source, timeout=timeout) as answer:
            for block in iter(lambda: answer.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        found = digest.hexdigest()
        if found != expected:
            raise Failed(f"{name}: sha256 mismatch for {source}: expected {expected}, found {found}; the "
                         "file is corrupt or not the release kinstall expects, so it was not used. Check "
                         "the mirror's copy, or the checksum the inventory declares")
        os.chmod(partial, 0o644)
        os.replace(partial, dest)
    except urllib.error.HTTPError as error:
        raise Failed(f"{name}: {source} answered {error.code} {error.reason}; the file is not there: "
                     "fill the mirror with the files `kinstall artifacts` lists") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise Failed(f"{name}: cannot fetch {source}: {reason}; check that the "
                     "source (files_repo or the network) is reachable from the controller") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return True


def main():
    module = AnsibleModule(argument_spec={"files": {"type": "list", "elements": "dict", "required": True},
                                          "cache_dir": {"type": "str", "required": True},
                                          "timeout": {"type": "int", "default": 30}}, supports_check_mode=True)
    fetched, problems = [], []
    for entry in module.params["files"]:
        try:
            if fetch(entry, module.params["cache_dir"], module.params["timeout"], module.check_mode):
                fetched.append(entry["mirror_path"])
        except Failed as failure:
            problems.append(str(failure))
    if problems:
        module.fail_json(msg=" | ".join(problems), fetched=fetched)
    module.exit_json(changed=bool(fetched), fetched=fetched)


if __name__ == "__main__":
    main()
