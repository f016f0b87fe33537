"""STAND-IN (tests only) for a Kubernetes API server with pods that run: it keeps the objects it
is sent and plays the pods by a scenario, so that `kinstall verify`'s function checks run through
the real client on what the lab's cluster cannot have (cluster DNS, a NetworkPolicy engine) and on
a cluster where those are broken.

Strict like the API server for what the checks send: every object created is validated against
the Kubernetes 1.20 API schema, strictly (tests/kube_schemas.py), and its name as a DNS-1123 label
(422 otherwise); a duplicate is a 409, an object in a missing namespace a 404, a deleted namespace
is Terminating once before it is gone; anything not served here is a 404 or 405 with the API
server's Status body. Every request is kept, in order, in `requests`.

How pods are played: a pod with restartPolicy Always is a server (Running and Ready at once, with
an address; it answers HTTP on 8080 with its name, as the checks' httpd does); any other pod's
`/bin/sh -c SCRIPT` runs here, under sh, with an `nc`, an `nslookup` and a `sleep` of this
stand-in first on PATH. They print what busybox's print and answer from the scenario:
- `dns`: {name: address} the cluster's DNS resolves (anything else: NXDOMAIN);
- `policy`: the NetworkPolicy engine: "networkpolicy-v1" enforces the v1 policies created (ingress
  and egress, pod and namespace selectors, ports), "romana-annotation" isolates a namespace's
  ingress only under Romana's DefaultDeny annotation, None enforces nothing (the policies are
  kept and ignored, as by a plugin without a policy engine).
The log of such a pod is what its script printed; it Succeeded on exit 0, else Failed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.standins.recorded_api import StandinServer, reply, status

RELEASE = "1.20.2"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ROMANA_ANNOTATION = "net.beta.kubernetes.io/network-policy"
# (group path, resource) -> (apiVersion, kind, namespaced)
KINDS = {("api/v1", "namespaces"): ("v1", "Namespace", False),
         ("api/v1", "pods"): ("v1", "Pod", True),
         ("api/v1", "services"): ("v1", "Service", True),
         ("apis/networking.k8s.io/v1", "networkpolicies"): ("networking.k8s.io/v1", "NetworkPolicy", True),
         ("apis/apps/v1", "deployments"): ("apps/v1", "Deployment", True),
         ("api/v1", "persistentvolumeclaims"): ("v1", "PersistentVolumeClaim", True),
         ("api/v1", "persistentvolumes"): ("v1", "PersistentVolume", False),
         ("apis/storage.k8s.io/v1", "storageclasses"): ("storage.k8s.io/v1", "StorageClass", False)}
ROUTE = re.compile(r"^/(?P<group>api/v1|apis/[^/]+/[^/]+)(?:/namespaces/(?P<namespace>[^/]+)(?=/))?"
                   r"/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?(?P<log>/log)?$")

TOOL = '''#!{python}
import json, os, sys
sys.path.insert(0, {root!r})
from tests.standins.cluster_api import tool
sys.exit(tool(os.path.basename(sys.argv[0]), sys.argv[1:], json.load(open({state!r})), os.environ["STANDIN_POD"]))
'''


class ClusterApi(StandinServer):
    """nodes: the cluster's (all Ready). dns, policy: see above. heals: a Deployment replaces a
    deleted pod; rollout_dip: a rolling update removes an old pod before its replacement is up
    (as with maxUnavailable 1), instead of the surge maxUnavailable 0 asks for. volumes: None (no
    StorageClass), "keep" (a claim binds a Retain volume whose directory every pod mounting it
    shares), "lose" (each pod gets an empty directory) or "pending" (no claim ever binds)."""

    def __init__(self, nodes=("node1", "node2", "node3"), dns: dict | None = None, policy: str | None = None,
                 heals: bool = True, rollout_dip: bool = False, volumes: str | None = None):
        self.nodes, self.requests = list(nodes), []
        self.scenario = {"dns": dns, "policy": policy, "heals": heals, "rollout_dip": rollout_dip, "volumes": volumes}
        self.objects: dict[tuple, dict] = {}  # (resource, namespace, name) -> object
        self.lock, self.addresses = threading.RLock(), 0
        self.dir = Path(tempfile.mkdtemp(prefix="kinstall-standin-"))
        for name in ("default", "kube-system"):
            self._keep("namespaces", None, {"metadata": {"name": name, "labels": {
                "kubernetes.io/metadata.name": name}}, "status": {"phase": "Active"}})
        if volumes is not None:
            self._keep("storageclasses", None, {"metadata": {"name": "local-storage"}, "provisioner":
                                                "kubernetes.io/no-provisioner", "reclaimPolicy": "Retain",
                                                "volumeBindingMode": "Immediate"})
        if dns is not None:
            self._keep("services", "kube-system", {"metadata": {"name": "kube-dns", "namespace": "kube-system"},
                                                   "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                                                            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}})
        for tool in ("nc", "nslookup", "sleep"):
            path = self.dir / "bin" / tool
            path.parent.mkdir(exist_ok=True)
            root = str(Path(__file__).resolve().parents[2])
            path.write_text(TOOL.format(python=sys.executable, root=root, state=str(self.dir / "state.json")))
            path.chmod(0o755)
        self.listen(self._handler())

    # The API ------------------------------------------------------------------------------------

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                api.requests.append((self.command, self.path))
                with api.lock:
                    reply(self, *api.serve(self.command, self.path, body))

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

            def log_message(self, *args):
                pass

        return Handler

    def serve(self, method: str, target: str, body):
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/api/v1/nodes" and method == "GET":
            return 200, _list("NodeList", [_node(n) for n in self.nodes])
        match = ROUTE.match(parts.path)
        if not match:
            return 404, status(404, "NotFound", f"the server could not find the requested resource ({parts.path})")
        group, namespace, resource, name, log = match.group("group", "namespace", "resource", "name", "log")
        if resource == "events" and method == "GET":
            return 200, _list("EventList", [])
        if (group, resource) not in KINDS:
            return 404, status(404, "NotFound", f"the server could not find the requested resource ({parts.path})")
        api_version, kind, namespaced = KINDS[(group, resource)]
        if namespaced and namespace is None:
            return 405, status(405, "MethodNotAllowed", f"{resource} are namespaced")
        if namespace is not None and ("namespaces", None, namespace) not in self.objects:
            return 404, status(404, "NotFound", f'namespaces "{namespace}" not found')
        key = (resource, namespace, name)
        if method == "POST" and name is None:
            return self._create(resource, namespace, api_version, kind, body)
        self._reconcile()  # the controllers act between any two requests
        if method == "GET" and name is None:
            found = [o for (r, ns, _), o in self.objects.items() if r == resource and ns == namespace]
            return 200, _list(f"{kind}List", [o for o in found if _selected(query.get("labelSelector"), o)])
        if key not in self.objects:
            return 404, status(404, "NotFound", f'{resource} "{name}" not found')
        if method == "GET" and log:
            return 200, self.objects[key].get("_log", "")
        if method == "GET":
            found = self.objects[key]
            if found.get("status", {}).get("phase") == "Terminating":
                del self.objects[key]  # seen Terminating once, then gone
            return 200, _public(found)
        if method == "DELETE":
            if resource == "namespaces":
                for other in [k for k in self.objects if k[1] == name]:
                    del self.objects[other]
                self.objects[key]["status"] = {"phase": "Terminating"}
                return 200, _public(self.objects[key])
            gone = self.objects.pop(key)
            if resource == "persistentvolumeclaims" and gone.get("spec", {}).get("volumeName"):
                volume = self.objects[("persistentvolumes", None, gone["spec"]["volumeName"])]
                volume["status"] = {"phase": "Released"}
            return 200, _public(gone)
        if method == "PATCH" and resource in ("deployments", "persistentvolumes"):
            target = self.objects[key]
            before = json.dumps(target.get("spec"))
            _merge(target, body)
            if resource == "deployments" and json.dumps(target.get("spec")) != before:
                target["metadata"]["generation"] += 1
            if resource == "persistentvolumes" and not target["spec"].get("claimRef"):
                target["status"] = {"phase": "Available"}
            return 200, _public(target)
        return 405, status(405, "MethodNotAllowed", f"the stand-in does not serve {method} {parts.path}")

    def _create(self, resource, namespace, api_version, kind, body):
        from tests.kube_schemas import validate  # here: the pods' tools import this module too, and quickly

        obj = {"apiVersion": api_version, "kind": kind, **body}  # the API server defaults both from the path
        try:
            validate(obj, RELEASE)
        except Exception as error:  # jsonschema.ValidationError, or a kind 1.20 does not serve (KeyError)
            return 422, status(422, "Invalid", f"{kind} is invalid: {getattr(error, 'message', error)}")
        name = obj["metadata"].get("name", "")
        if not DNS_LABEL.match(name) or len(name) > 63:
            return 422, status(422, "Invalid", f'{kind} "{name}" is invalid: metadata.name: a lowercase RFC 1123 label')
        if (resource, namespace, name) in self.objects:
            return 409, status(409, "AlreadyExists", f'{resource} "{name}" already exists')
        obj["metadata"] = {**obj["metadata"], "uid": str(uuid.uuid4()), "creationTimestamp": "2026-11-29T00:00:00Z"}
        if namespace:
            obj["metadata"]["namespace"] = namespace
        if resource == "namespaces":
            obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), "kubernetes.io/metadata.name": name}
            obj["status"] = {"phase": "Active"}
        elif resource == "services":
            obj["spec"]["clusterIP"] = f"10.96.{len(self.objects) % 250}.{self._address() % 250 + 1}"
        elif resource == "pods":
            self._schedule(obj)
        elif resource == "deployments":
            obj["metadata"]["generation"] = 1
            obj["status"] = {}
        elif resource == "persistentvolumeclaims":
            self._bind(obj)
        self._keep(resource, namespace, obj)
        if resource == "pods":
            self._start(obj)
        self._reconcile()
        return 201, _public(obj)

    def _start(self, pod):
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or []
                  if "persistentVolumeClaim" in v]
        namespace = pod["metadata"]["namespace"]
        if any(self.objects.get(("persistentvolumeclaims", namespace, c), {}).get("status", {}).get("phase") != "Bound"
               for c in claims):  # as the scheduler does: not before every claim is bound
            pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                                 "reason": "Unschedulable"}]}
            return
        if pod["spec"].get("restartPolicy", "Always") != "Always":
            threading.Thread(target=self._play, args=(pod,), daemon=True).start()

    def _bind(self, claim):
        """A claim of the stand-in's StorageClass binds to a volume made for it (the "pending"
        scenario: never)."""
        if self.scenario["volumes"] in (None, "pending") or claim["spec"].get("storageClassName") != "local-storage":
            claim["status"] = {"phase": "Pending"}
            return
        name = f"local-{claim['metadata']['name']}-{self._address()}"
        self._keep("persistentvolumes", None, {
            "metadata": {"name": name}, "spec": {"storageClassName": "local-storage", "capacity": {"storage": "1Gi"},
                                                 "persistentVolumeReclaimPolicy": "Retain",
                                                 "claimRef": {"namespace": claim["metadata"]["namespace"],
                                                              "name": claim["metadata"]["name"]}},
            "status": {"phase": "Bound"}})
        (self.dir / "volumes" / name).mkdir(parents=True)
        claim["spec"]["volumeName"] = name
        claim["status"] = {"phase": "Bound"}

    def _mounts(self, pod) -> dict[str, Path]:
        """mountPath -> the directory standing for the volume there."""
        namespace, found = pod["metadata"]["namespace"], {}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or []
                  if "persistentVolumeClaim" in v}
        for mount in pod["spec"]["containers"][0].get("volumeMounts") or []:
            claim = self.objects[("persistentvolumeclaims", namespace, claims[mount["name"]])]
            directory = self.dir / "volumes" / claim["spec"]["volumeName"]
            if self.scenario["volumes"] == "lose":
                directory = Path(tempfile.mkdtemp(dir=self.dir))
            found[mount["mountPath"]] = directory
        return found

    def _reconcile(self):
        """The Deployment controller, one step per call: replicas made up (when the scenario heals),
        then a rolling update one pod at a time."""
        for key, deployment in [(k, v) for k, v in self.objects.items() if k[0] == "deployments"]:
            namespace, spec = key[1], deployment["spec"]
            template = json.dumps(spec["template"], sort_keys=True)
            pods = [p for (r, ns, _), p in self.objects.items() if r == "pods" and ns == namespace
                    and _matches(spec["selector"], p["metadata"].get("labels") or {})]
            old = [p for p in pods if p.get("_template") != template]
            if old and self.scenario["rollout_dip"] and len(pods) >= spec["replicas"]:
                self.objects.pop(("pods", namespace, old[0]["metadata"]["name"]))
            elif old and len(pods) > spec["replicas"]:
                self.objects.pop(("pods", namespace, old[0]["metadata"]["name"]))
            elif old or (len(pods) < spec["replicas"] and (self.scenario["heals"] or not deployment.get("_filled"))):
                self._pod_of(deployment, namespace, template)
            pods = [p for (r, ns, _), p in self.objects.items() if r == "pods" and ns == namespace
                    and _matches(spec["selector"], p["metadata"].get("labels") or {})]
            deployment["_filled"] = deployment.get("_filled") or len(pods) >= spec["replicas"]
            deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"], "replicas": len(pods),
                                    "updatedReplicas": sum(p.get("_template") == template for p in pods),
                                    "availableReplicas": len(pods), "readyReplicas": len(pods)}

    def _pod_of(self, deployment, namespace, template):
        pod = {"apiVersion": "v1", "kind": "Pod", "_template": template, "metadata": {
            **json.loads(json.dumps(deployment["spec"]["template"]["metadata"])),
            "name": f"{deployment['metadata']['name']}-{uuid.uuid4().hex[:5]}", "namespace": namespace,
            "uid": str(uuid.uuid4())}, "spec": json.loads(json.dumps(deployment["spec"]["template"]["spec"]))}
        self._schedule(pod)
        self._keep("pods", namespace, pod)

    def _keep(self, resource, namespace, obj):
        self.objects[(resource, namespace, obj["metadata"]["name"])] = obj

    def _address(self) -> int:
        self.addresses += 1
        return self.addresses

    def _schedule(self, pod):
        spec = pod["spec"]
        spec.setdefault("nodeName", self.nodes[0])
        node = self.nodes.index(spec["nodeName"]) if spec["nodeName"] in self.nodes else 0
        container = spec["containers"][0]["name"]
        pod["status"] = {"phase": "Running", "podIP": f"10.244.{node}.{self._address() % 250 + 2}"}
        server = spec.get("restartPolicy", "Always") == "Always"
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if server else "False"}]
        pod["status"]["containerStatuses"] = [{"name": container, "ready": server, "restartCount": 0,
                                               "image": spec["containers"][0]["image"], "imageID": "sha256:0",
                                               "state": {"running": {"startedAt": "2026-11-29T00:00:00Z"}}}]

    def _play(self, pod):
        """Run the pod's script here, with the stand-in's tools first on PATH."""
        command = pod["spec"]["containers"][0]["command"]
        assert command[:2] == ["/bin/sh", "-c"], command
        script = command[2]
        with self.lock:
            for path, directory in self._mounts(pod).items():  # the volume mounted: its directory there
                script = script.replace(path.rstrip("/") + "/", f"{directory}/")
        with self.lock:
            (self.dir / "state.tmp").write_text(json.dumps({"scenario": self.scenario, "objects": [
                [list(k), v] for k, v in self.objects.items()]}))
            (self.dir / "state.tmp").replace(self.dir / "state.json")  # whole, for a tool reading it now
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                              env={"PATH": f"{self.dir / 'bin'}:/usr/bin:/bin", "NAME": pod["metadata"]["name"],
                                   "STANDIN_POD": f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"})
        with self.lock:
            pod["_log"] = done.stdout
            pod["status"]["phase"] = "Succeeded" if done.returncode == 0 else "Failed"
            pod["status"]["containerStatuses"][0]["state"] = {"terminated": {
                "exitCode": done.returncode, "reason": "Completed" if done.returncode == 0 else "Error"}}

    def __exit__(self, *exc):
        super().__exit__(*exc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def remaining(self, resource: str) -> list[str]:
        return sorted(name for (r, _, name), obj in self.objects.items() if r == resource
                      and obj.get("status", {}).get("phase") != "Terminating")


def _merge(target: dict, patch: dict) -> None:
    """A JSON merge patch (what the checks send): null removes a key."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _list(kind, items):
    return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": [_public(i) for i in items]}


def _public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _node(name):
    return {"metadata": {"name": name}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def _selected(selector: str | None, obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


# What the pods' tools see ------------------------------------------------------------------------

def _matches(selector: dict | None, labels: dict) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[operator]:
            return False
    return True


class _Network:
    def __init__(self, state):
        self.scenario = state["scenario"]
        self.objects = {tuple(k): v for k, v in state["objects"]}

    def all(self, resource):
        return [v for k, v in self.objects.items() if k[0] == resource]

    def namespace(self, name):
        return self.objects[("namespaces", None, name)]["metadata"]

    def pod(self, reference):
        namespace, name = reference.split("/")
        return self.objects[("pods", namespace, name)]

    def destination(self, address, port):
        """The server pod behind an address and port: a pod's own (8080), or a Service's."""
        for pod in self.all("pods"):
            if pod["status"].get("podIP") == address and port == 8080:
                return pod
        for service in self.all("services"):
            if service["spec"].get("clusterIP") == address:
                for wanted in service["spec"].get("ports", []):
                    if wanted["port"] == port and wanted.get("targetPort", port) == 8080:
                        for pod in self.all("pods"):
                            if pod["metadata"]["namespace"] == service["metadata"]["namespace"] and \
                                    _matches({"matchLabels": service["spec"].get("selector") or {}},
                                             pod["metadata"].get("labels") or {}):
                                return pod
        return None

    def _peer(self, peer, policy_namespace, other) -> bool:
        other_namespace = other["metadata"]["namespace"]
        if "ipBlock" in peer:
            return False
        if "namespaceSelector" in peer:
            ok = _matches(peer["namespaceSelector"], self.namespace(other_namespace).get("labels") or {})
        else:
            ok = other_namespace == policy_namespace
        return ok and ("podSelector" not in peer or _matches(peer["podSelector"], other["metadata"].get("labels") or {}))

    def _allows(self, pod, other, direction, port) -> bool:
        namespace = pod["metadata"]["namespace"]
        policies = [p for p in self.all("networkpolicies") if p["metadata"]["namespace"] == namespace and
                    _matches(p["spec"].get("podSelector"), pod["metadata"].get("labels") or {}) and
                    direction in (p["spec"].get("policyTypes") or
                                  ["Ingress"] + (["Egress"] if p["spec"].get("egress") else []))]
        mode = self.scenario["policy"]
        if mode == "romana-annotation":
            if direction == "Egress":
                return True
            annotation = (self.namespace(namespace).get("annotations") or {}).get(ROMANA_ANNOTATION)
            if not annotation or json.loads(annotation).get("ingress", {}).get("isolation") != "DefaultDeny":
                return True
        elif mode != "networkpolicy-v1" or not policies:
            return True
        key, peers = ("from", "ingress") if direction == "Ingress" else ("to", "egress")
        for policy in policies:
            for rule in policy["spec"].get(peers) or []:
                ports = rule.get("ports") or []
                if ports and not any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports):
                    continue
                if not rule.get(key) or any(self._peer(peer, namespace, other) for peer in rule[key]):
                    return True
        return False

    def connects(self, source, destination, port) -> bool:
        return self._allows(source, destination, "Egress", port) and self._allows(destination, source, "Ingress", port)


def tool(name: str, args: list[str], state: dict, source: str) -> int:
    """The stand-in's nc, nslookup and sleep, as busybox's behave for the calls the scripts make."""
    network = _Network(state)
    if name == "sleep":
        return 0  # the scripts' retries need not wait here
    if name == "nslookup":
        host = args[0]
        print("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n")
        address = (network.scenario["dns"] or {}).get(host)
        print(f"Name:\t{host}\nAddress: {address}" if address else f"** server can't find {host}: NXDOMAIN")
        return 0 if address else 1
    if name == "nc":
        if len(args) != 4 or args[0] != "-w" or not args[1].isdigit() or not args[3].isdigit():
            print(f"nc: the stand-in knows `nc -w SECONDS ADDRESS PORT`, not {args}", file=sys.stderr)
            return 2
        request = sys.stdin.read()
        if request != "GET / HTTP/1.0\r\n\r\n":
            print(f"nc: the stand-in's servers answer GET / only, not {request!r}", file=sys.stderr)
            return 2
        server = network.destination(args[2], int(args[3]))
        if server is None or not network.connects(network.pod(source), server, 8080):
            print("nc: timed out", file=sys.stderr)
            return 1
        print(f"HTTP/1.0 200 OK\r\nContent-type: text/html\r\n\r\n{server['metadata']['name']}")
        return 0
    raise SystemExit(f"the stand-in has no {name}")
