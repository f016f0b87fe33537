#!/usr/bin/python3
"""Verify the sha256 of files on a host, all in one call: the check that what arrived is what
the controller verified. Reports every mismatch or missing file, never changes anything."""

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_verify
short_description: check the sha256 of files on a host
options:
  directory:
    description: "where the files are, under their mirror_path"
    type: str
    required: true
  files:
    description: "artifacts as kinstall lists them (component, version, mirror_path, sha256)"
    type: list
    elements: dict
    required: true
  fail:
    description: "fail on a missing or different file; false only reports them (as differ)"
    type: bool
    default: true
  bundle:
    description: >-
      the files are a bundle's, checked on the controller before any is sent: a mismatch means
      the bundle changed since the inventory pinned it
    type: bool
    default: false
  record:
    description: >-
      add the files' paths to the directory's list of what kinstall put there (.kinstall-files),
      which reset removes and nothing else
    type: bool
    default: false
"""
LISTING = ".kinstall-files"


def _record(module, directory, paths):
    """The listing holds every path kinstall sent here, over all runs: True when it grew."""
    listing = os.path.join(directory, LISTING)
    try:
        with open(listing, encoding="utf-8") as handle:
            known = set(handle.read().split("\n")) - {""}
    except FileNotFoundError:
        known = set()
    wanted = known | set(paths)
    if wanted == known:
        return False
    if not module.check_mode:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        temporary = listing + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write("\n".join(sorted(wanted)) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, listing)
    return True



def main():
    module = AnsibleModule(argument_spec={"directory": {"type": "str", "required": True},
                                          "files": {"type": "list", "elements": "dict", "required": True},
                                          "fail": {"type": "bool", "default": True},
                                          "record": {"type": "bool", "default": False},
                                          "bundle": {"type": "bool", "default": False}},
                           supports_check_mode=True)
    problems, differ = [], []
    for entry in module.params["files"]:
        path = os.path.join(module.params["directory"], entry["mirror_path"])
        name = f"{entry['component']} {entry['version']}"
        if not os.path.isfile(path):
            problems.append(f"{name}: {path} is missing")
            differ.append(entry["mirror_path"])
            continue
        found = module.sha256(path)
        if found != entry["sha256"].lower():
            problems.append(f"{name}: {path} has sha256 {found}, expected {entry['sha256']}")
            differ.append(entry["mirror_path"])
    if problems and module.params["fail"] and module.params["bundle"]:
        module.fail_json(msg="the bundle's files differ from the sums of the manifest the inventory pins "
                             "(download_bundle_sha256): replaced or corrupted since, so none was sent to any host. "
                             "Restore them, or rebuild the bundle and pin its new manifest: " + "; ".join(problems))
    if problems and module.params["fail"]:
        module.fail_json(msg="files on this host differ from the verified ones (a disk or transfer fault; "
                             "re-run to send them again): " + "; ".join(problems))
    changed = module.params["record"] and _record(module, module.params["directory"],
                                                  [entry["mirror_path"] for entry in module.params["files"]])
    module.exit_json(changed=changed, verified=len(module.params["files"]) - len(differ), differ=differ)


if __name__ == "__main__":
    main()
