"""The function checks of `kinstall verify`: what the cluster exists for, tried with pods of a
small image (`verify_image`, busybox: httpd, nc, nslookup) in a namespace of their own, which is
removed afterwards, on failure and on Ctrl-C too:

- a pod on every schedulable node answers the pods on every other node (pod-to-pod across every
  pair of nodes) and through a ClusterIP Service (pod-to-service);
- DNS resolves the kubernetes Service and an external name, where the cluster has a DNS Service;
- a Deployment replaces a deleted pod (self-healing), and a RollingUpdate completes with no
  replica unavailable;
- a PersistentVolumeClaim binds on each StorageClass and its data outlives the pod that wrote it.

The checks ask through the Kubernetes client, with pods that run once and print what they saw
(their logs are the evidence), so nothing is exec'd into a container."""

from __future__ import annotations

import secrets
import shlex
import signal
import threading
import time
from contextlib import contextmanager

from installer.verify.api import TIMEOUT, error_text, recent_events, unanswered
from installer.verify.results import FAIL, PASS, SKIP, Result, Timer

LABEL = "kinstall.io/verify"
WAIT = 180  # seconds for pods to start (an image may be pulled first)
SERVER = "mkdir -p /tmp/www && echo $NAME > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"


def _pod(name, image, command, node=None, labels=None, restart="Never", volumes=None, mounts=None, probe=False):
    container = {"name": "check", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["/bin/sh", "-c", command],
                 "env": [{"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}}
    if mounts:
        container["volumeMounts"] = mounts
    if probe:
        container["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    spec = {"restartPolicy": restart, "containers": [container], "terminationGracePeriodSeconds": 1,
            "tolerations": [{"operator": "Exists"}], "automountServiceAccountToken": False}
    if node:
        spec["nodeName"] = node
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


class Namespace:
    """The checks' namespace: made on entry, removed (and waited for) on exit, whatever happened.
    Every one carries the LABEL, so a run killed outright leaves nothing the next cannot find."""

    def __init__(self, core, name: str | None = None, labels: dict | None = None, annotations: dict | None = None):
        self.core, self.name = core, name or f"kinstall-verify-{secrets.token_hex(3)}"
        self.metadata = {"name": self.name, "labels": {LABEL: "true", **(labels or {})}}
        if annotations:
            self.metadata["annotations"] = annotations

    def __enter__(self) -> Namespace:
        self.core.create_namespace({"metadata": self.metadata}, _request_timeout=TIMEOUT)
        return self

    def __exit__(self, *exc):
        remove(self.core, self.name)


def remove(core, name: str, wait: float = 90) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        core.delete_namespace(name, grace_period_seconds=0, _request_timeout=TIMEOUT)
    except ApiException as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            core.read_namespace(name, _request_timeout=TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        time.sleep(1)


def leftovers(core) -> list[str]:
    """Namespaces an earlier verify could not remove (killed outright): removed before checking."""
    found = core.list_namespace(label_selector=f"{LABEL}=true", _request_timeout=TIMEOUT).items
    return [n.metadata.name for n in found]


def _wait(probe, timeout):
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def _describe(core, namespace, name) -> list[str]:
    """What a person would look at: the pod's phase and containers, its events, its log."""
    try:
        pod = core.read_namespaced_pod(name, namespace, _request_timeout=TIMEOUT)
    except unanswered() as error:
        return [f"pod {name}: not read ({error_text(error)})"]
    lines = [f"pod {namespace}/{name} on {pod.spec.node_name or '(not scheduled)'}: {pod.status.phase}"]
    for status in pod.status.container_statuses or []:
        state = status.state
        what = (f"waiting: {state.waiting.reason} {state.waiting.message or ''}" if state.waiting else
                f"terminated: {state.terminated.reason} (exit {state.terminated.exit_code})" if state.terminated
                else "running")
        lines.append(f"  container {status.name}: {what.strip()}, ready {status.ready}")
    lines += [f"  event {line}" for line in recent_events(core, "Pod", name, namespace)]
    try:
        log = core.read_namespaced_pod_log(name, namespace, tail_lines=20, _request_timeout=TIMEOUT)
        lines += [f"  log: {line}" for line in log.splitlines()]
    except unanswered() as error:
        lines.append(f"  (log not read: {error_text(error)})")
    return lines


def _phases(core, namespace, names):
    return {p.metadata.name: p for p in core.list_namespaced_pod(namespace, _request_timeout=TIMEOUT).items
            if p.metadata.name in names}


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def schedulable_nodes(core) -> list[str]:
    nodes = []
    for node in core.list_node(_request_timeout=TIMEOUT).items:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        if ready and not node.spec.unschedulable:
            nodes.append(node.metadata.name)
    return sorted(nodes)


def network(core, namespace, image, nodes, dns_domain: str | None, external_name: str) -> list[Result]:
    """A server pod on each node, a Service over them, then a client pod on each node that asks
    every other node's server, the Service and (with cluster DNS) the resolver; each client
    prints one line per answer, and its log is the evidence."""
    timer = Timer()
    names = {node: f"server-{i}" for i, node in enumerate(nodes)}
    for node, name in names.items():
        core.create_namespaced_pod(namespace, _pod(name, image, SERVER, node, {"app": "server"}, "Always",
                                                   probe=True), _request_timeout=TIMEOUT)
    core.create_namespaced_service(namespace, {"metadata": {"name": "server"}, "spec": {
        "selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": 8080}]}}, _request_timeout=TIMEOUT)
    servers = _wait(lambda: (lambda found: found if len(found) == len(names) and all(map(_ready, found.values()))
                             else None)(_phases(core, namespace, set(names.values()))), WAIT)
    titles = ("pod-to-pod across nodes", "pod-to-service", "DNS")
    if not servers:
        diagnostics = sum((_describe(core, namespace, n) for n in names.values()), [])
        seen = _phases(core, namespace, set(names.values()))
        waiting = [f"{n} {p.status.phase}" for n, p in seen.items() if not _ready(p)]
        return [Result("function", titles[0], "cluster", FAIL, timer.seconds,
                       f"not Ready within {WAIT} s: {', '.join(waiting) or 'none created'}",
                       "a server pod Ready on every schedulable node", "\n".join(diagnostics))] + \
               [Result("function", t, "cluster", SKIP, reason="the server pods did not start") for t in titles[1:]]
    service_ip = core.read_namespaced_service("server", namespace, _request_timeout=TIMEOUT).spec.cluster_ip
    script = client_script([(names[node], servers[names[node]].status.pod_ip) for node in nodes], service_ip,
                           dns_domain, external_name)
    clients = {node: f"client-{i}" for i, node in enumerate(nodes)}
    for node, name in clients.items():
        core.create_namespaced_pod(namespace, _pod(name, image, script, node), _request_timeout=TIMEOUT)
    done = _wait(lambda: (lambda found: found if len(found) == len(clients) and all(
        p.status.phase in ("Succeeded", "Failed") for p in found.values()) else None)(
        _phases(core, namespace, set(clients.values()))), WAIT)
    if not done:
        diagnostics = sum((_describe(core, namespace, n) for n in clients.values()), [])
        return [Result("function", titles[0], "cluster", FAIL, timer.seconds, "the client pods did not finish",
                       f"a client pod on every node done within {WAIT} s", "\n".join(diagnostics))] + \
               [Result("function", t, "cluster", SKIP, reason="the client pods did not finish") for t in titles[1:]]
    logs = {node: core.read_namespaced_pod_log(name, namespace, _request_timeout=TIMEOUT).splitlines()
            for node, name in clients.items()}
    seconds = timer.seconds
    return [_pairs(nodes, names, logs, seconds), _service(logs, set(names.values()), service_ip, seconds),
            _dns(logs, dns_domain, external_name, seconds)]


def client_script(targets: list[tuple[str, str]], service_ip: str, dns_domain: str | None, external_name: str) -> str:
    """What a client pod runs (busybox sh; nc, since the static busybox of Debian's that the lab's
    image holds crashes in wget): one line per answer, "pod NAME IP ANSWER", then
    "service IP ANSWER" (retried while the Service's endpoints settle), then with cluster DNS
    "dns NAME ADDRESS" for the kubernetes Service and the external name (empty: not resolved)."""
    # Every value from the inventory or the cluster is quoted for sh, whatever validate let through.
    pairs = " ".join(shlex.quote(f"{name}={ip}") for name, ip in targets)
    service_ip = shlex.quote(service_ip)
    get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {timeout} {address} {port} {errors} | tail -n 1"
    script = (f"for t in {pairs}; do n=${{t%%=*}}; "
              f"a=$({get.format(timeout=5, address='${t#*=}', port=8080, errors='2>&1')}); "
              f"echo \"pod $n ${{t#*=}} $a\"; done; "
              f"for i in $(seq 1 15); do a=$({get.format(timeout=3, address=service_ip, port=80, errors='2>/dev/null')}); "
              f"[ -n \"$a\" ] && break; sleep 2; done; echo \"service {service_ip} $a\"; ")
    if dns_domain:
        # The first address after the answer's Name: line (busybox prints "Address: IP" or, older,
        # "Address 1: IP NAME"); the resolver's own "Address: IP:53" comes before any Name: line.
        names = " ".join(shlex.quote(n) for n in (f"kubernetes.default.svc.{dns_domain}", external_name))
        script += (f"for h in {names}; do "
                   f"a=$(nslookup \"$h\" 2>&1 | awk '/^Name:/ {{n=1}} n && /^Address/ {{for (i = 2; i <= NF; i++) "
                   f"if ($i ~ /^[0-9a-f]+[.:][0-9a-f.:]*[0-9a-f]$/) {{print $i; exit}}}}'); echo \"dns $h $a\"; done")
    return script


def _pairs(nodes, names, logs, seconds) -> Result:
    failures, total = [], 0
    for node in nodes:
        for line in logs[node]:
            parts = line.split(" ", 3)
            if parts[0] != "pod" or parts[1] == names[node]:
                continue
            total += 1
            target = next(n for n, name in names.items() if name == parts[1])
            answer = parts[3] if len(parts) > 3 else ""
            if answer != parts[1]:
                failures.append(f"{node} -> {target} ({parts[2]}): {answer or 'no answer'}")
    expected = len(nodes) * (len(nodes) - 1)
    if failures or total != expected:
        return Result("function", "pod-to-pod across nodes", "cluster", FAIL, seconds,
                      f"{total - len(failures)} of {expected} answered; " + "; ".join(failures),
                      "a pod on every node answers the pods on every other node",
                      "\n".join(f"client on {node}: {line}" for node in nodes for line in logs[node]))
    if expected == 0:
        return Result("function", "pod-to-pod across nodes", "cluster", SKIP, seconds,
                      reason="one schedulable node: no pair of nodes to try")
    return Result("function", "pod-to-pod across nodes", "cluster", PASS, seconds,
                  f"{expected} of {expected} node pairs answered")


def _service(logs, servers, service_ip, seconds) -> Result:
    answers = {node: next((line.split(" ", 2)[2:] or [""])[0] for line in lines if line.startswith("service "))
               for node, lines in logs.items()}
    wrong = [f"{node}: {answer or 'no answer'}" for node, answer in answers.items() if answer not in servers]
    if wrong:
        return Result("function", "pod-to-service", "cluster", FAIL, seconds, "; ".join(wrong),
                      f"the Service {service_ip} answered by a server pod from every node")
    return Result("function", "pod-to-service", "cluster", PASS, seconds,
                  f"Service {service_ip} answered from every node ({len(set(answers.values()))} server(s) seen)")


def _dns(logs, dns_domain, external_name, seconds) -> Result:
    if not dns_domain:
        return Result("function", "DNS", "cluster", SKIP, reason="the cluster has no DNS Service (kube-system/kube-dns)")
    wrong = []
    for node, lines in logs.items():
        for line in (line for line in lines if line.startswith("dns ")):
            parts = line.split(" ")
            if len(parts) < 3 or not parts[2] or parts[2].endswith(":53"):
                wrong.append(f"{node}: {parts[1]} not resolved")
    if wrong:
        return Result("function", "DNS", "cluster", FAIL, seconds, "; ".join(wrong),
                      f"kubernetes.default.svc.{dns_domain} and {external_name} resolved from every node")
    return Result("function", "DNS", "cluster", PASS, seconds,
                  f"kubernetes.default.svc.{dns_domain} and {external_name} resolved from every node")


def _deployment(name, image, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": _pod(name, image, SERVER, restart="Always", probe=True)["spec"]}}}


def workloads(core, apps, namespace, image) -> list[Result]:
    """A Deployment of two replicas: one pod deleted comes back (self-healing); then a rolling
    update completes while no replica is ever unavailable (maxUnavailable 0, a readiness probe)."""
    timer = Timer()
    apps.create_namespaced_deployment(namespace, _deployment("heal", image, 2), _request_timeout=TIMEOUT)

    def available():
        d = apps.read_namespaced_deployment("heal", namespace, _request_timeout=TIMEOUT)
        return (d.status.available_replicas or 0) == 2 and (d.status.updated_replicas or 0) == 2 and \
            d.status.observed_generation == d.metadata.generation

    def live():  # the Deployment's pods not being deleted, with whether each is Ready
        return {p.metadata.name: _ready(p) for p in core.list_namespaced_pod(
            namespace, label_selector="app=heal", _request_timeout=TIMEOUT).items if not p.metadata.deletion_timestamp}

    def pods():
        return sorted(live())
    titles = ("self-healing", "rolling update")
    if not _wait(available, WAIT):
        diagnostics = sum((_describe(core, namespace, n) for n in pods()), [])
        return [Result("function", titles[0], "cluster", FAIL, timer.seconds, "the Deployment never had 2 available",
                       "a Deployment of 2 replicas available", "\n".join(diagnostics)),
                Result("function", titles[1], "cluster", SKIP, reason="the Deployment never became available")]
    victim = pods()[0]
    deleted = Timer()
    core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0, _request_timeout=TIMEOUT)
    healed = _wait(lambda: (lambda now: victim not in now and len(now) == 2 and all(now.values()) and available())(
        live()), WAIT)
    if not healed:
        diagnostics = sum((_describe(core, namespace, n) for n in pods()), [])
        results = [Result("function", titles[0], "cluster", FAIL, timer.seconds,
                          f"after deleting {victim}: {len(pods())} pod(s), not all available",
                          "the deleted pod replaced and 2 available again", "\n".join(diagnostics))]
    else:
        results = [Result("function", titles[0], "cluster", PASS, timer.seconds,
                          f"{victim} deleted, replaced and available in {deleted.seconds:.1f} s")]
    timer = Timer()
    apps.patch_namespaced_deployment("heal", namespace, {"spec": {"template": {"metadata": {"annotations": {
        "kinstall.io/verify-rollout": str(time.time())}}}}}, _request_timeout=TIMEOUT)
    worst = 2
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        d = apps.read_namespaced_deployment("heal", namespace, _request_timeout=TIMEOUT)
        worst = min(worst, d.status.available_replicas or 0)
        if d.status.observed_generation == d.metadata.generation and (d.status.updated_replicas or 0) == 2 and \
                (d.status.available_replicas or 0) == 2 and (d.status.replicas or 0) == 2:
            break
        time.sleep(0.5)
    else:
        diagnostics = sum((_describe(core, namespace, n) for n in pods()), [])
        results.append(Result("function", titles[1], "cluster", FAIL, timer.seconds,
                              f"not complete within {WAIT} s", "the rollout complete", "\n".join(diagnostics)))
        return results
    if worst < 2:
        results.append(Result("function", titles[1], "cluster", FAIL, timer.seconds,
                              f"only {worst} of 2 replicas available during the rollout",
                              "2 of 2 available throughout (maxUnavailable 0)"))
    else:
        results.append(Result("function", titles[1], "cluster", PASS, timer.seconds,
                              "completed; 2 of 2 replicas available throughout"))
    return results


def volumes(core, storage, namespace, image) -> list[Result]:
    """On each StorageClass: a claim, a pod that writes to it, deleted; a second pod reads the
    data back. A local volume (no provisioner, reclaimPolicy Retain) is emptied and made
    Available again afterwards, so verify never uses one up."""
    classes = storage.list_storage_class(_request_timeout=TIMEOUT).items
    if not classes:
        return [Result("function", "volume", "cluster", SKIP, reason="the cluster has no StorageClass")]
    results = []
    for index, storage_class in enumerate(sorted(classes, key=lambda c: c.metadata.name)):
        results.append(_volume(core, namespace, image, storage_class, f"claim-{index}"))
    return results


def _volume(core, namespace, image, storage_class, claim) -> Result:
    from kubernetes.client.exceptions import ApiException

    timer = Timer()
    title, name = "volume", storage_class.metadata.name
    core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": claim}, "spec": {
        "storageClassName": name, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}},
        _request_timeout=TIMEOUT)
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    mount = [{"name": "data", "mountPath": "/data"}]
    token = secrets.token_hex(8)
    steps = [(f"{claim}-write", f"echo {token} > /data/kinstall-verify && cat /data/kinstall-verify"),
             (f"{claim}-read", "cat /data/kinstall-verify && rm -f /data/kinstall-verify")]
    seen = []
    try:
        for pod, command in steps:
            core.create_namespaced_pod(namespace, _pod(pod, image, command, volumes=volume, mounts=mount),
                                       _request_timeout=TIMEOUT)
            finished = _wait(lambda pod=pod: (lambda p: p if p and p.status.phase in ("Succeeded", "Failed") else None)(
                _phases(core, namespace, {pod}).get(pod)), WAIT)
            if not finished or finished.status.phase != "Succeeded":
                pvc = core.read_namespaced_persistent_volume_claim(claim, namespace, _request_timeout=TIMEOUT)
                diagnostics = [f"claim {claim}: {pvc.status.phase}"] + \
                    [f"  event {line}" for line in recent_events(core, "PersistentVolumeClaim", claim, namespace)] + \
                    _describe(core, namespace, pod)
                return Result("function", title, name, FAIL, timer.seconds,
                              f"{pod} {finished.status.phase if finished else 'not finished'} (claim {pvc.status.phase})",
                              "the claim bound and the pod done", "\n".join(diagnostics))
            seen.append(core.read_namespaced_pod_log(pod, namespace, _request_timeout=TIMEOUT).strip())
            core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0, _request_timeout=TIMEOUT)
            _wait(lambda pod=pod: pod not in _phases(core, namespace, {pod}), 60)
        if seen != [token, token]:
            return Result("function", title, name, FAIL, timer.seconds, f"read back {seen[-1]!r}",
                          f"the written data ({token}) read by the next pod")
        return Result("function", title, name, PASS, timer.seconds,
                      "claim bound; the data written by one pod read by the next")
    finally:
        _release(core, namespace, claim, storage_class, ApiException)


def _release(core, namespace, claim, storage_class, api_exception) -> None:
    """Delete the claim; a Retain volume kinstall's check bound goes back to Available."""
    try:
        bound = core.read_namespaced_persistent_volume_claim(claim, namespace, _request_timeout=TIMEOUT).spec.volume_name
        core.delete_namespaced_persistent_volume_claim(claim, namespace, _request_timeout=TIMEOUT)
    except api_exception:
        return
    if bound and storage_class.reclaim_policy == "Retain":
        _wait(lambda: core.read_persistent_volume(bound, _request_timeout=TIMEOUT).status.phase == "Released", 60)
        core.patch_persistent_volume(bound, {"spec": {"claimRef": None}}, _request_timeout=TIMEOUT)


ROMANA_DEFAULT_DENY = {"net.beta.kubernetes.io/network-policy": '{"ingress": {"isolation": "DefaultDeny"}}'}


def isolation_policies(mechanism: str) -> list[dict]:
    """The NetworkPolicies with which kinstall isolates a tenant's namespace (the addons stage's
    tenants.yaml.j2; a unit test holds the two to the same specs): ingress, and with NetworkPolicy
    v1 egress, only from and to the namespace's own pods (and the cluster's DNS)."""
    v1 = mechanism == "networkpolicy-v1"
    types = ["Ingress", "Egress"] if v1 else ["Ingress"]
    allow = {"podSelector": {}, "policyTypes": types, "ingress": [{"from": [{"podSelector": {}}]}]}
    if v1:
        allow["egress"] = [{"to": [{"podSelector": {}}]}, {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "kinstall-default-deny"}, "spec": {"podSelector": {}, "policyTypes": types}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "kinstall-allow-same-namespace"}, "spec": allow}]


def tenant_script(within: tuple[str, str], across: tuple[str, str]) -> str:
    """What a tenant's client pod runs: ask its own tenant's server and the other tenant's, again
    while the policies are being put in place (until its own answers and the other does not, 30 s
    at most); then "within NAMESPACE IP ANSWER" and "across NAMESPACE IP ANSWER", where each
    tenant's server pod, named server, answers its name (empty: no answer)."""
    get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {timeout} {address} 8080 2>/dev/null | tail -n 1"
    return (f"for i in $(seq 1 10); do w=$({get.format(timeout=5, address=within[1])}); "
            f"x=$({get.format(timeout=3, address=across[1])}); "
            f"[ \"$w\" = server ] && [ -z \"$x\" ] && break; sleep 2; done; "
            f"echo \"within {within[0]} {within[1]} $w\"; echo \"across {across[0]} {across[1]} $x\"")


def tenants(core, networking, base: str, image: str, mechanism: str, node: str) -> Result:
    """Two tenant namespaces isolated the way kinstall isolates tenants, a server and a client
    pod in each, all on one node (so only the policies tell the tenants apart): each client must
    reach its own tenant's server and must not reach the other's."""
    timer = Timer()
    title = "NetworkPolicy between tenants"
    annotations = ROMANA_DEFAULT_DENY if mechanism == "romana-annotation" else None
    with Namespace(core, f"{base}-tenant-a", {"kinstall.io/tenant": "verify-a"}, annotations) as a, \
            Namespace(core, f"{base}-tenant-b", {"kinstall.io/tenant": "verify-b"}, annotations) as b:
        spaces = (a.name, b.name)
        for namespace in spaces:
            for policy in isolation_policies(mechanism):
                networking.create_namespaced_network_policy(namespace, policy, _request_timeout=TIMEOUT)
            core.create_namespaced_pod(namespace, _pod("server", image, SERVER, node, {"app": "server"}, "Always",
                                                       probe=True), _request_timeout=TIMEOUT)
        servers = {}
        for namespace in spaces:
            servers[namespace] = _wait(lambda namespace=namespace: (lambda p: p if p and _ready(p) else None)(
                _phases(core, namespace, {"server"}).get("server")), WAIT)
        if not all(servers.values()):
            diagnostics = sum((_describe(core, n, "server") for n in spaces), [])
            return Result("function", title, "cluster", FAIL, timer.seconds, "a tenant's server pod did not start",
                          f"a server pod Ready in each tenant within {WAIT} s", "\n".join(diagnostics))
        for namespace, other in (spaces, spaces[::-1]):
            script = tenant_script((namespace, servers[namespace].status.pod_ip), (other, servers[other].status.pod_ip))
            core.create_namespaced_pod(namespace, _pod("client", image, script, node), _request_timeout=TIMEOUT)
        done = {n: _wait(lambda n=n: (lambda p: p if p and p.status.phase in ("Succeeded", "Failed") else None)(
            _phases(core, n, {"client"}).get("client")), WAIT) for n in spaces}
        if not all(done.values()):
            diagnostics = sum((_describe(core, n, "client") for n in spaces), [])
            return Result("function", title, "cluster", FAIL, timer.seconds, "a tenant's client pod did not finish",
                          f"a client pod done in each tenant within {WAIT} s", "\n".join(diagnostics))
        logs = {n: core.read_namespaced_pod_log("client", n, _request_timeout=TIMEOUT).splitlines() for n in spaces}
    return _isolation(logs, timer.seconds, mechanism)


def _isolation(logs: dict, seconds: float, mechanism: str) -> Result:
    title, wrong = "NetworkPolicy between tenants", []
    for namespace, lines in logs.items():
        answers = {parts[0]: parts for parts in (line.split(" ", 3) for line in lines) if parts[0] in ("within", "across")}
        within, across = answers.get("within", []), answers.get("across", [])
        if len(within) < 4 or within[3] != "server":
            wrong.append(f"{namespace}'s own server did not answer its client (the policies deny too much)")
        if len(across) < 3:
            wrong.append(f"{namespace}'s client printed nothing of the other tenant")
        elif len(across) > 3 and across[3]:
            wrong.append(f"{namespace} reached {across[1]}'s server ({across[2]} answered {across[3]!r})")
    if wrong:
        return Result("function", title, "cluster", FAIL, seconds, "; ".join(wrong),
                      f"each tenant reaches its own pods and not the other's ({mechanism})",
                      "\n".join(f"client in {n}: {line}" for n, lines in logs.items() for line in lines))
    return Result("function", title, "cluster", PASS, seconds,
                  f"{len(logs)} tenants: each reached its own server, neither the other's ({mechanism})")


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM ends the checks as Ctrl-C does, so the namespace is removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(api, image: str, dns_domain: str | None = "cluster.local", external_name: str = "kubernetes.io",
        tenant_isolation: str | None = None, plugin: str | None = None) -> list[Result]:
    from kubernetes import client

    core, apps, storage = client.CoreV1Api(api), client.AppsV1Api(api), client.StorageV1Api(api)
    for stale in leftovers(core):
        remove(core, stale)
    nodes = schedulable_nodes(core)
    has_dns = any(s.metadata.name == "kube-dns" for s in core.list_namespaced_service(
        "kube-system", _request_timeout=TIMEOUT).items)
    results = []
    with _terminate_as_interrupt(), Namespace(core) as namespace:
        results += network(core, namespace.name, image, nodes, dns_domain if has_dns else None, external_name)
        results += workloads(core, apps, namespace.name, image)
        results += volumes(core, storage, namespace.name, image)
        if tenant_isolation in (None, "unknown") or not nodes:
            reason = ("no schedulable node" if tenant_isolation and not nodes else
                      f"the network plugin ({plugin}) enforces no NetworkPolicy" if tenant_isolation is None else
                      "the network plugin is not known without an inventory")
            results.append(Result("function", "NetworkPolicy between tenants", "cluster", SKIP, reason=reason))
        else:
            results.append(tenants(core, client.NetworkingV1Api(api), namespace.name, image, tenant_isolation,
                                   nodes[0]))
    return results
