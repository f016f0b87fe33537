#!/usr/bin/python3
"""STAND-IN (tests only) for a Kubernetes cluster of a release that cannot be built here: the
state a real API server and kubeadm keep, the checks they make on the calls kinstall's upgrade
makes, and a record of every call in order. See README.md.

    kube_api.py --listen ADDR:PORT --release X.Y.Z --node NAME[:control-plane] ... --log FILE"""

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
VERSION = re.compile(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)$")


class Refused(Exception):
    """The real tool's error for this call: message on stderr, exit 1."""


def parse_version(text):
    match = VERSION.match(text)
    if not match:
        raise Refused(f'unable to parse version "{text}"')
    return tuple(int(part) for part in match.groups())


def options(argv, allowed):
    """(positional arguments, {flag: value}) with cobra's strictness: an unknown flag fails.
    allowed: {flag: takes_value}; aliases as separate keys."""
    positional, found = [], {}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("-"):
            name, _, value = word.partition("=")
            if name not in allowed:
                raise Refused(f"unknown flag: {name}")
            if allowed[name] and not value:
                i += 1
                if i >= len(argv):
                    raise Refused(f"flag needs an argument: {name}")
                value = argv[i]
            found[name] = value if allowed[name] else True
        else:
            positional.append(word)
        i += 1
    return positional, found


class Cluster:
    def __init__(self, release, nodes, log):
        self.release = parse_version(release)
        self.nodes = {}
        for spec in nodes:
            name, _, role = spec.partition(":")
            self.nodes[name] = {"kubelet": self.release, "ready": True, "unschedulable": False,
                                "control_plane": role == "control-plane", "registered": False}
        self.log = log
        self.sequence = 0

    def record(self, request, rc):
        self.sequence += 1
        entry = {"seq": self.sequence, "time": time.time(), "node": request.get("node"), "tool": request["tool"],
                 "version": request.get("version"), "argv": request["argv"], "rc": rc}
        with open(self.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def handle(self, request):
        tool, argv = request["tool"], list(request["argv"])
        try:
            stdout = getattr(self, tool.replace("-", "_"))(request, argv)
            rc, stderr = 0, ""
        except Refused as error:
            rc, stdout, stderr = 1, "", f"error: {error}\n"
        self.record(request, rc)
        return {"rc": rc, "stdout": stdout, "stderr": stderr}

    # kubelet: the node agent registering (its version and readiness).
    def kubelet(self, request, argv):
        node = self._node(request["node"])
        own = parse_version(request["version"])
        # Version-skew policy: a kubelet never newer than the API server, at most three minors older.
        if own[:2] > self.release[:2] or self.release[1] - own[1] > 3:
            node["ready"] = False
            raise Refused(f"kubelet v{'.'.join(map(str, own))} is outside the supported skew of API server "
                          f"v{'.'.join(map(str, self.release))}")
        node.update(kubelet=own, ready=bool(request.get("ready")), registered=True)
        return ""

    # kubeadm upgrade apply VERSION / kubeadm upgrade node.
    def kubeadm(self, request, argv):
        own = parse_version(request["version"])
        if argv[:2] == ["upgrade", "apply"]:
            positional, flags = options(argv[2:], {"--yes": False, "-y": False, "--certificate-renewal": True,
                                                "--etcd-upgrade": True, "--ignore-preflight-errors": True})
            if len(positional) != 1:
                raise Refused('missing one or more required arguments: "version"')
            if not request["files"]["/etc/kubernetes/admin.conf"]:
                raise Refused("couldn't create a Kubernetes client from file \"/etc/kubernetes/admin.conf\": "
                              "no such file (run it on a control plane)")
            if not self._node(request["node"])["control_plane"]:
                raise Refused(f"{request['node']} is not a control plane node")
            target = parse_version(positional[0])
            if "--yes" not in flags and "-y" not in flags:
                raise Refused("the upgrade needs confirmation and stdin is not a terminal: pass --yes")
            if target > own:
                raise Refused(f'specified version to upgrade to "{positional[0]}" is higher than the kubeadm version '
                              f'"v{".".join(map(str, own))}"; upgrade kubeadm first')
            if target < self.release:
                raise Refused(f'specified version to upgrade to "{positional[0]}" is lower than the cluster version')
            if target[0] != self.release[0] or target[1] - self.release[1] > 1:
                raise Refused("specified version to upgrade to is too high; kubeadm can upgrade only 1 minor "
                              "version at a time")
            self.release = target
            return f"[upgrade/successful] SUCCESS! Your cluster was upgraded to \"{positional[0]}\". Enjoy!\n"
        if argv[:2] == ["upgrade", "node"]:
            positional, _flags = options(argv[2:], {"--certificate-renewal": True, "--etcd-upgrade": True,
                                               "--ignore-preflight-errors": True, "--skip-phases": True})
            if positional:
                raise Refused(f'unknown command "{positional[0]}" for "kubeadm upgrade node"')
            if not request["files"]["/etc/kubernetes/kubelet.conf"]:
                raise Refused('unable to read "/etc/kubernetes/kubelet.conf": the node has not joined a cluster')
            if own != self.release:
                raise Refused(f"the cluster runs v{'.'.join(map(str, self.release))} but this kubeadm is "
                              f"v{'.'.join(map(str, own))}: run `kubeadm upgrade apply` on a control plane first, "
                              "with the kubeadm of the release")
            return "[upgrade] The configuration for this node was successfully updated!\n"
        raise Refused(f"stand-in kubeadm does not implement: kubeadm {' '.join(argv)}")

    # kubectl --kubeconfig FILE (get node[s] ... -o json | drain | cordon | uncordon) ...
    def kubectl(self, request, argv):
        positional, found = options(argv, {"--kubeconfig": True, "-o": True, "--output": True,
                                           "--ignore-daemonsets": False, "--force": False,
                                           "--delete-emptydir-data": False, "--delete-local-data": False,
                                           "--timeout": True, "--grace-period": True})
        if found.get("--kubeconfig") != "/etc/kubernetes/admin.conf" or \
                not request["files"]["/etc/kubernetes/admin.conf"]:
            raise Refused("stand-in kubectl is used with --kubeconfig /etc/kubernetes/admin.conf on a control plane")
        if not positional:
            raise Refused("kubectl: no command")
        verb, rest = positional[0], positional[1:]
        output = found.get("-o") or found.get("--output")
        if verb == "get" and rest[:1] in (["nodes"], ["node"]) and output == "json":
            if rest[0] == "nodes" and len(rest) == 1:
                return json.dumps({"kind": "List", "items": [self._object(n) for n in self.nodes]}) + "\n"
            if len(rest) == 2:
                self._node(rest[1])
                return json.dumps(self._object(rest[1])) + "\n"
        if verb in ("drain", "cordon", "uncordon") and len(rest) == 1:
            node = self._node(rest[0])
            extra = set(found) - {"--kubeconfig"}
            if verb == "drain":
                if "--ignore-daemonsets" not in found:
                    raise Refused("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)")
                if "--delete-emptydir-data" in found and "--delete-local-data" in found:
                    raise Refused("--delete-local-data is deprecated in favour of --delete-emptydir-data; give one")
                for flag in ("--timeout", "--grace-period"):
                    if flag in found and not re.fullmatch(r"-?[0-9]+[smh]?", found[flag]):
                        raise Refused(f'invalid argument "{found[flag]}" for "{flag}" flag')
            elif extra:
                raise Refused(f"unknown flag: {sorted(extra)[0]}")
            node["unschedulable"] = verb != "uncordon"
            return f"node/{rest[0]} {'drained' if verb == 'drain' else verb + 'ed'}\n"
        raise Refused(f"stand-in kubectl does not implement: kubectl {' '.join(argv)}")

    def _node(self, name):
        if name not in self.nodes:
            raise Refused(f'nodes "{name}" not found')
        return self.nodes[name]

    def _object(self, name):
        node = self.nodes[name]
        return {"kind": "Node", "metadata": {"name": name},
                "spec": {"unschedulable": True} if node["unschedulable"] else {},
                "status": {"nodeInfo": {"kubeletVersion": "v" + ".".join(map(str, node["kubelet"]))},
                           "conditions": [{"type": "Ready", "status": "True" if node["ready"] else "False"}]}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--node", action="append", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    cluster = Cluster(args.release, args.node, args.log)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with LOCK:
                answer = cluster.handle(request)
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    host, _, port = args.listen.rpartition(":")
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
