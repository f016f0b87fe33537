#!/usr/bin/python3
"""Read what preflight needs from a host in one round trip: listening sockets and their owners,
the memory the host may really use (its cgroup limit too), kernel modules, the container it may
run in, and its clock. Reads only; never changes anything."""

import os
import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_host_facts
short_description: facts for kinstall's preflight checks (read-only)
options:
  modules:
    description: kernel modules to look for
    type: list
    elements: str
    default: []
  name:
    description: the host's inventory name, whose address the host's own resolver is asked for
    type: str
    default: ""
"""


def _run(*command):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        return result.returncode, result.stdout, result.stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        return 127, "", str(error)


def listening():
    sockets = []
    for proto, flag in (("tcp", "-Htlnp"), ("udp", "-Hulnp")):
        rc, out, _ = _run("ss", flag)
        for line in out.splitlines() if rc == 0 else []:
            fields = line.split()
            if len(fields) < 5:
                continue
            local = fields[3]
            port = local.rsplit(":", 1)[-1]
            if not port.isdigit():
                continue
            owner = re.search(r'users:\(\("([^"]+)"', line)
            sockets.append({"proto": proto, "port": int(port), "address": local.rsplit(":", 1)[0],
                            "process": owner.group(1) if owner else ""})
    return sockets


def memory_limit_mb():
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text) // (1024 * 1024)
    return None


def module_state(name, can_probe):
    if os.path.isdir(f"/sys/module/{name}"):
        return "loaded"
    release = os.uname().release
    try:
        if re.search(rf"/{re.escape(name)}\.ko", open(f"/lib/modules/{release}/modules.builtin").read()):
            return "builtin"
    except OSError:
        pass
    if name == "overlay":
        try:
            if "overlay" in open("/proc/filesystems").read():
                return "builtin"
        except OSError:
            pass
    if not can_probe:
        return "unknown"
    rc, _, _ = _run("modprobe", "-n", "-q", name)
    return "available" if rc == 0 else "missing"


def _resolve(name):
    if not name:
        return ""
    rc, out, _ = _run("getent", "hosts", name)
    return out.split()[0] if rc == 0 and out.split() else ""


def main():
    module = AnsibleModule(argument_spec={"modules": {"type": "list", "elements": "str", "default": []},
                                          "name": {"type": "str", "default": ""}},
                           supports_check_mode=True)
    can_probe = os.path.isdir(f"/lib/modules/{os.uname().release}")
    rc, out, _ = _run("systemd-detect-virt", "--container")
    container = out.strip() if rc == 0 else ""
    module.exit_json(changed=False, kinstall_host={
        "listening": listening(),
        "memory_limit_mb": memory_limit_mb(),
        "modules": {name: module_state(name, can_probe) for name in module.params["modules"]},
        "modprobe_usable": can_probe,
        "container": container,
        "epoch": int(time.time()),
        "active_services": [name for name in ("docker", "crio")
                            if _run("systemctl", "is-active", "--quiet", name)[0] == 0],
        "docker_socket": os.path.exists("/var/run/docker.sock"),
        # What the host's own resolver makes of its inventory name (getent's first answer; "" when none).
        "resolved": _resolve(module.params["name"]),
    })


if __name__ == "__main__":
    main()
