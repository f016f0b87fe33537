#!/usr/bin/python3
"""Set kernel settings now and keep them across reboots (a sysctl.d file). Writes a key only when
its value differs. Keys that are not per network namespace (kernel.*, vm.*, fs.*, ...) may be
read-only on a host that protects them, such as a kinstall lab node: those are skipped with a
warning naming the key. A net.* key that cannot be written is an error."""

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_sysctl
short_description: set kernel settings idempotently; skip protected global keys with a warning
options:
  settings: {description: key -> value, type: dict, required: true}
  file: {description: the sysctl.d file that keeps them, type: str, required: true}
"""


def _path(key):
    return os.path.join("/proc/sys", *key.split("."))


def main():
    module = AnsibleModule(argument_spec={"settings": {"type": "dict", "required": True},
                                          "file": {"type": "str", "required": True}},
                           supports_check_mode=True)
    settings = {str(k): str(v) for k, v in module.params["settings"].items()}
    changed, skipped, missing = [], [], []
    for key, value in sorted(settings.items()):
        path = _path(key)
        try:
            current = open(path).read().strip()
        except FileNotFoundError:
            missing.append(key)
            continue
        if current.split() == value.split():
            continue
        if module.check_mode:
            changed.append(key)
            continue
        try:
            with open(path, "w") as handle:
                handle.write(value)
            changed.append(key)
        except OSError as error:
            if key.startswith("net."):
                module.fail_json(msg=f"cannot set {key} to {value}: {error.strerror}")
            skipped.append(key)
    text = "# Written by kinstall (role os): kernel settings for Kubernetes.\n" + "".join(
        f"{key} = {value}\n" for key, value in sorted(settings.items()))
    file = module.params["file"]
    try:
        file_changed = open(file).read() != text
    except FileNotFoundError:
        file_changed = True
    if file_changed and not module.check_mode:
        with open(file + ".tmp", "w") as handle:
            handle.write(text)
        os.chmod(file + ".tmp", 0o644)
        os.replace(file + ".tmp", file)
    for key in skipped:
        module.warn(f"{key} is read-only on this host (a global kernel setting the host protects); "
                    f"left at {open(_path(key)).read().strip()}, wanted {settings[key]}")
    for key in missing:
        module.warn(f"{key} does not exist on this kernel; skipped")
    module.exit_json(changed=bool(changed) or file_changed, set=changed, skipped=skipped, missing=missing)


if __name__ == "__main__":
    main()
