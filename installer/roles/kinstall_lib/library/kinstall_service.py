#!/usr/bin/python3
"""A systemd service started and enabled, in one quick call.

ansible.builtin.systemd_service reads every property of the unit each time; a re-run only needs
to know that the unit is active and enabled and that systemd has read its file. This module
asks exactly that, and acts (daemon-reload, enable, start) only where the answer is no."""

import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_service
short_description: a systemd service started now and at boot
options:
  name:
    description: "the unit, e.g. containerd"
    type: str
    required: true
"""


def systemctl(*args):
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def main():
    module = AnsibleModule(argument_spec={"name": {"type": "str", "required": True}}, supports_check_mode=True)
    name = module.params["name"]
    _, reload_needed, _ = systemctl("show", "--property=NeedDaemonReload", "--value", name)
    enabled = systemctl("is-enabled", "--quiet", name)[0] == 0
    active = systemctl("is-active", "--quiet", name)[0] == 0
    actions = (["daemon-reload"] if reload_needed == "yes" else []) + ([] if enabled else ["enable"]) \
        + ([] if active else ["start"])
    if not module.check_mode:
        for action in actions:
            rc, _, err = systemctl(action) if action == "daemon-reload" else systemctl(action, name)
            if rc != 0:
                _, status, _ = systemctl("status", "--no-pager", "--lines=20", name)
                module.fail_json(msg=f"systemctl {action} {name} failed: {err}", status=status, actions=actions)
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
