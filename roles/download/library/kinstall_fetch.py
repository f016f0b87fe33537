#!/usr/bin/python3
"""Fetch one release file to the controller's cache and verify its sha256. A file already in the
cache with the right sum is left alone (nothing to do); a bundle file (a local path) is verified
where it lies. A wrong sum or a source that cannot be reached fails with the file's name, where
it came from and what to do; nothing half-written stays behind."""

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_fetch
short_description: fetch a file once to the controller, verified by sha256
options:
  name: {description: what the file is, for messages (component version arch), type: str, required: true}
  source: {description: an http(s) or file URL, or a local path (a bundle), type: str, required: true}
  sha256: {description: the expected sha256, type: str, required: true}
  dest: {description: the cache path; ignored for a local path, which is verified in place, type: str, required: true}
  timeout: {description: seconds to wait for the server, type: int, default: 30}
"""
CHUNK = 1 << 20


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True}, "source": {"type": "str", "required": True},
        "sha256": {"type": "str", "required": True}, "dest": {"type": "str", "required": True},
        "timeout": {"type": "int", "default": 30}}, supports_check_mode=True)
    name, source, dest = module.params["name"], module.params["source"], module.params["dest"]
    expected = module.params["sha256"].lower()
    if "://" not in source:  # a bundle: verify the file where it is
        if not os.path.isfile(source):
            module.fail_json(msg=f"{name}: {source} is not in the bundle; rebuild the bundle with `kinstall bundle` "
                                 "or check download_bundle_dir")
        found = sha256_of(source)
        if found != expected:
            module.fail_json(msg=f"{name}: sha256 mismatch for {source}: expected {expected}, found {found}; the "
                                 "bundle's file is not the release the inventory names (rebuild the bundle)")
        module.exit_json(changed=False, path=source)
    if os.path.isfile(dest) and sha256_of(dest) == expected:
        module.exit_json(changed=False, path=dest)
    if module.check_mode:
        module.exit_json(changed=True, path=dest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".part-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(source, timeout=module.params["timeout"]) as answer:
            for block in iter(lambda: answer.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        found = digest.hexdigest()
        if found != expected:
            module.fail_json(msg=f"{name}: sha256 mismatch for {source}: expected {expected}, found {found}; the "
                                 "file is corrupt or not the release kinstall expects, so it was not used. Check "
                                 "the mirror's copy, or the checksum the inventory declares")
        os.chmod(partial, 0o644)
        os.replace(partial, dest)
    except urllib.error.HTTPError as error:
        module.fail_json(msg=f"{name}: {source} answered {error.code} {error.reason}; the file is not there: "
                             "fill the mirror with the files `kinstall artifacts` lists")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        module.fail_json(msg=f"{name}: cannot fetch {source}: {reason}; check that the "
                             "source (files_repo or the network) is reachable from the controller")
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    module.exit_json(changed=True, path=dest)


if __name__ == "__main__":
    main()
