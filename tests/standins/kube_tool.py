#!/usr/bin/python3
"""STAND-IN (tests only) for kubeadm, kubelet and kubectl of release VERSION: see README.md.
Which tool it is comes from the name it is called by. Local facts (its version, the files a real
tool would read) are sent with the arguments to the stand-in API service (kube_api.py), which
decides; `kubelet` with no arguments is the node agent: it registers and then stays up."""

import json
import os
import sys
import time
import urllib.request

VERSION = "@VERSION@"
CONFIG = "/etc/kinstall-standin"


def _read(name):
    with open(os.path.join(CONFIG, name)) as f:
        return f.read().strip()


def call(tool, argv, **facts):
    body = json.dumps({"tool": tool, "argv": argv, "version": VERSION, "node": _read("node"),
                       "files": {p: os.path.exists(p) for p in ("/etc/kubernetes/admin.conf",
                                                                 "/etc/kubernetes/kubelet.conf")},
                       **facts}).encode()
    request = urllib.request.Request(f"http://{_read('api')}/call", data=body,
                                     headers={"Content-Type": "application/json"})
    for _attempt in range(30):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except OSError:
            time.sleep(1)
    sys.exit(f"{tool}: the stand-in API at {_read('api')} does not answer")


def main():
    tool = os.path.basename(sys.argv[0])
    argv = sys.argv[1:]
    if tool == "kubelet" and argv == ["--version"]:
        print(f"Kubernetes v{VERSION}")
        return 0
    if tool == "kubeadm" and argv in (["version", "-o", "short"], ["version", "--output=short"]):
        print(f"v{VERSION}")
        return 0
    if tool == "kubelet" and not argv:
        answer = call(tool, ["start"], ready=not os.path.exists(os.path.join(CONFIG, "not-ready")))
        if answer["rc"] != 0:
            sys.stderr.write(answer["stderr"])
            return answer["rc"]
        while True:
            time.sleep(3600)
    answer = call(tool, argv)
    sys.stdout.write(answer["stdout"])
    sys.stderr.write(answer["stderr"])
    return answer["rc"]


if __name__ == "__main__":
    sys.exit(main())
